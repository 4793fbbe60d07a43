#include "groupwatch/tencent/discovery.hpp"

#include <simdjson.h>

#include "groupwatch/util/text.hpp"

namespace groupwatch::tencent {

namespace dom = simdjson::dom;

std::string build_list_body(std::uint32_t limit, std::uint64_t next) {
  return "{\"Limit\":" + std::to_string(limit) + ",\"Next\":" + std::to_string(next) + "}";
}

std::string build_info_body(const std::vector<std::string>& ids) {
  std::string body = "{\"GroupIdList\":[";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) body += ',';
    append_json_string(body, ids[i]);
  }
  body += "],\"ResponseFilter\":{\"GroupBaseInfoFilter\":[\"Type\",\"Name\"]}}";
  return body;
}

namespace {

// The call-level fields every answer has; false when the body is not a JSON
// object with an integer ErrorCode.
template <class Out>
bool read_status(dom::element& root, std::string_view body, dom::parser& parser, Out& out) {
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS || !root.is_object()) {
    out.invalid = true;
    out.invalid_what = "not a JSON object";
    return false;
  }
  std::int64_t code = 0;
  if (root["ErrorCode"].get_int64().get(code) != simdjson::SUCCESS) {
    out.invalid = true;
    out.invalid_what = "no integer ErrorCode";
    return false;
  }
  out.error_code = code;
  std::string_view info;
  if (root["ErrorInfo"].get_string().get(info) == simdjson::SUCCESS) out.error_info = std::string(info);
  return true;
}

}  // namespace

CallStatus parse_status(std::string_view body) {
  CallStatus out;
  dom::parser parser;
  dom::element root;
  read_status(root, body, parser, out);
  return out;
}

ListPage parse_list_answer(std::string_view body) {
  ListPage out;
  dom::parser parser;
  dom::element root;
  if (!read_status(root, body, parser, out) || out.error_code != 0) return out;
  dom::array list;
  if (root["GroupIdList"].get_array().get(list) != simdjson::SUCCESS) {
    out.invalid = true;
    out.invalid_what = "no GroupIdList";
    return out;
  }
  out.ids.reserve(list.size());
  for (dom::element item : list) {
    std::string_view id;
    if (item["GroupId"].get_string().get(id) != simdjson::SUCCESS) {
      out.invalid = true;
      out.invalid_what = "a GroupIdList entry without GroupId";
      return out;
    }
    out.ids.emplace_back(id);
  }
  // Next is an unsigned 64-bit cursor: above 2^63 it only fits a uint64.
  if (root["Next"].get_uint64().get(out.next) != simdjson::SUCCESS) {
    out.invalid = true;
    out.invalid_what = "no unsigned integer Next";
    return out;
  }
  std::uint64_t total = 0;
  if (root["TotalCount"].get_uint64().get(total) == simdjson::SUCCESS) out.total = total;
  return out;
}

InfoAnswer parse_info_answer(std::string_view body) {
  InfoAnswer out;
  dom::parser parser;
  dom::element root;
  if (!read_status(root, body, parser, out) || out.error_code != 0) return out;
  dom::array list;
  if (root["GroupInfo"].get_array().get(list) != simdjson::SUCCESS) {
    out.invalid = true;
    out.invalid_what = "no GroupInfo";
    return out;
  }
  for (dom::element item : list) {
    GroupInfo g;
    std::string_view s;
    if (item["GroupId"].get_string().get(s) != simdjson::SUCCESS) continue;
    g.id = std::string(s);
    std::int64_t code = 0;
    if (item["ErrorCode"].get_int64().get(code) == simdjson::SUCCESS) g.error_code = code;
    if (item["Type"].get_string().get(s) == simdjson::SUCCESS) g.type = std::string(s);
    if (item["Name"].get_string().get(s) == simdjson::SUCCESS) g.name = std::string(s);
    out.groups.push_back(std::move(g));
  }
  return out;
}

}  // namespace groupwatch::tencent
