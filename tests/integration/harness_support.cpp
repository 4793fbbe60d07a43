#include "harness.hpp"

#include <ctime>

namespace gwtest {

namespace {
double parse_time(std::string_view s) {
  // 2026-11-25T16:40:00.123Z
  std::tm tm{};
  if (s.size() < 20) return 0;
  tm.tm_year = std::stoi(std::string(s.substr(0, 4))) - 1900;
  tm.tm_mon = std::stoi(std::string(s.substr(5, 2))) - 1;
  tm.tm_mday = std::stoi(std::string(s.substr(8, 2)));
  tm.tm_hour = std::stoi(std::string(s.substr(11, 2)));
  tm.tm_min = std::stoi(std::string(s.substr(14, 2)));
  tm.tm_sec = std::stoi(std::string(s.substr(17, 2)));
  double frac = 0;
  if (s.size() > 20 && s[19] == '.') frac = std::stod("0" + std::string(s.substr(19, s.find('Z') - 19)));
  return static_cast<double>(::timegm(&tm)) + frac;
}
}  // namespace

double parse_rfc3339(std::string_view s) {
  return parse_time(s);
}

std::vector<Req> parse_request_log(const std::string& path) {
  std::vector<Req> out;
  simdjson::ondemand::parser parser;
  for (auto& l : lines_of(read_file(path))) {
    simdjson::padded_string p(l);
    try {
      auto doc = parser.iterate(p);
      Req r;
      r.t = parse_time(std::string_view(doc["time"]));
      if (auto conn = doc.find_field_unordered("conn"); !conn.error()) r.conn = std::uint64_t(conn.value());
      auto g = doc["group"];
      if (!g.is_null()) r.group = std::string(std::string_view(g));
      auto code = doc.find_field_unordered("code");
      r.code = code.error() ? -1 : std::int64_t(code.value());
      out.push_back(std::move(r));
    } catch (const simdjson::simdjson_error&) {
    }
  }
  return out;
}

}  // namespace gwtest
