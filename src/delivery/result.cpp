#include "groupwatch/delivery/result.hpp"

#include <string>

#include "groupwatch/util/text.hpp"

namespace groupwatch::delivery {

std::string to_json_line(const Result& r) {
  std::string out;
  out.reserve(160 + r.app.size() + r.group_id.size() + r.error_info.size());
  append_json_line(out, r);
  return out;
}

void append_json_line(std::string& out, const Result& r) {
  out += "{\"time\":\"";
  append_rfc3339_ms(out, r.time);
  out += "\",\"app\":";
  append_json_string(out, r.app);
  out += ",\"sdkappid\":";
  append_int(out, r.sdkappid);
  out += ",\"group_id\":";
  append_json_string(out, r.group_id);
  out += ",\"online_member_num\":";
  // The contract: null whenever the request failed, whatever the struct holds.
  if (r.error_code == 0 && r.online_member_num) {
    append_int(out, *r.online_member_num);
  } else {
    out += "null";
  }
  out += ",\"error_code\":";
  append_int(out, r.error_code);
  out += ",\"error_info\":";
  append_json_string(out, r.error_info);
  out += ",\"group_name\":";
  if (r.meta && !r.meta->name.empty()) {
    append_json_string(out, r.meta->name);
  } else {
    out += "null";
  }
  out += ",\"labels\":";
  append_labels_json(out, r.meta);
  out += '}';
}

void append_labels_json(std::string& out, const config::GroupMetaPtr& meta) {
  out += '{';
  if (meta) {
    bool first = true;
    for (const auto& [k, v] : meta->labels) {
      if (!first) out += ',';
      first = false;
      append_json_string(out, k);
      out += ':';
      append_json_string(out, v);
    }
  }
  out += '}';
}

}  // namespace groupwatch::delivery
