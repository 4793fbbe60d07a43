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

// Marks `out` as not the answer the call promises, saying what is wrong with it.
template <class Out>
Out& invalid(Out& out, std::string_view what) {
  out.invalid = true;
  out.invalid_what = what;
  return out;
}

// The call-level fields every answer has; false when the body is not a JSON
// object with an integer ErrorCode.
template <class Out>
bool read_status(dom::element& root, std::string_view body, dom::parser& parser, Out& out) {
  if (parser.parse(body.data(), body.size()).get(root) != simdjson::SUCCESS || !root.is_object()) {
    invalid(out, "not a JSON object");
    return false;
  }
  std::int64_t code = 0;
  if (root["ErrorCode"].get_int64().get(code) != simdjson::SUCCESS) {
    invalid(out, "no integer ErrorCode");
    return false;
  }
  out.error_code = code;
  std::string_view info;
  if (root["ErrorInfo"].get_string().get(info) == simdjson::SUCCESS) out.error_info = std::string(info);
  return true;
}

// A listing answer's JSON, read as far as its array `key`.
struct Listing {
  dom::parser parser;
  dom::element root;
  dom::array list;

  // False when the call failed (`out` holds its ErrorCode) or the answer is
  // not one (`out` says why).
  template <class Out>
  bool read(std::string_view body, std::string_view key, Out& out) {
    if (!read_status(root, body, parser, out) || out.error_code != 0) return false;
    if (root[key].get_array().get(list) == simdjson::SUCCESS) return true;
    invalid(out, "no " + std::string(key));
    return false;
  }
};

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
  Listing in;
  if (!in.read(body, "GroupIdList", out)) return out;
  out.ids.reserve(in.list.size());
  for (dom::element item : in.list) {
    std::string_view id;
    if (item["GroupId"].get_string().get(id) != simdjson::SUCCESS)
      return invalid(out, "a GroupIdList entry without GroupId");
    out.ids.emplace_back(id);
  }
  // Next is an unsigned 64-bit cursor: above 2^63 it only fits a uint64.
  if (in.root["Next"].get_uint64().get(out.next) != simdjson::SUCCESS) return invalid(out, "no unsigned integer Next");
  std::uint64_t total = 0;
  if (in.root["TotalCount"].get_uint64().get(total) == simdjson::SUCCESS) out.total = total;
  return out;
}

InfoAnswer parse_info_answer(std::string_view body) {
  InfoAnswer out;
  Listing in;
  if (!in.read(body, "GroupInfo", out)) return out;
  for (dom::element item : in.list) {
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
