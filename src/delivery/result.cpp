#include "groupwatch/delivery/result.hpp"

#include <string>

#include "groupwatch/util/text.hpp"

namespace groupwatch::delivery {

std::string to_json_line(const Result& r) {
  std::string out;
  out.reserve(160 + r.app.size() + r.group_id.size() + r.error_info.size());
  out += "{\"time\":\"";
  out += format_rfc3339_ms(r.time);
  out += "\",\"app\":";
  append_json_string(out, r.app);
  out += ",\"sdkappid\":";
  out += std::to_string(r.sdkappid);
  out += ",\"group_id\":";
  append_json_string(out, r.group_id);
  out += ",\"online_member_num\":";
  // The contract: null whenever the request failed, whatever the struct holds.
  if (r.error_code == 0 && r.online_member_num) {
    out += std::to_string(*r.online_member_num);
  } else {
    out += "null";
  }
  out += ",\"error_code\":";
  out += std::to_string(r.error_code);
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
  return out;
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
