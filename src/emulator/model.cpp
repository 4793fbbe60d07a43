// The emulator's data model: group types, faults, member counts, group IDs, stats.
#include <fmt/format.h>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>

#include <algorithm>
#include <array>
#include <random>

#include "groupwatch/emulator/server.hpp"
#include "groupwatch/tencent/request.hpp"
#include "groupwatch/util/names.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::emulator {

namespace {
constexpr std::array<std::string_view, 5> group_types{"Community", "Public", "Private", "ChatRoom", "AVChatRoom"};
constexpr std::array<std::string_view, 7> faults{"none", "10002", "502", "reset", "stall", "malformed", "10010"};
static_assert(util::names_each(group_types, GroupType::avchatroom));
static_assert(util::names_each(faults, Fault::e10010));

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

std::uint64_t fnv1a(std::string_view s) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : s) {
    h = (h ^ c) * 0x100000001b3ULL;
  }
  return h;
}
}  // namespace

std::optional<GroupType> parse_group_type(std::string_view text) {
  return util::value_of<GroupType>(group_types, text);
}

std::string_view to_string(GroupType t) {
  return util::name_of(group_types, t, "?");
}

std::optional<Fault> parse_fault(std::string_view text) {
  return util::value_of<Fault>(faults, text);
}

std::string_view to_string(Fault f) {
  return util::name_of(faults, f, "?");
}

std::optional<double> parse_rate(std::string_view text) {
  const auto v = parse_number<double>(text);
  if (!v || !(*v >= 0.0 && *v <= 1.0)) return std::nullopt;
  return v;
}

std::uint64_t member_count(std::string_view group_id, std::int64_t cycle) {
  const std::uint64_t h = splitmix64(fnv1a(group_id) ^ splitmix64(static_cast<std::uint64_t>(cycle)));
  // Mostly modest counts with the occasional big community.
  return (h % 8 == 0) ? h % 1'000'001 : h % 20'001;
}

std::uint64_t member_total(std::string_view group_id, std::int64_t cycle) {
  return member_count(group_id, cycle) + splitmix64(fnv1a(group_id)) % 50'001;
}

std::string default_group_name(std::string_view group_id) {
  const std::size_t n = std::min<std::size_t>(group_id.size(), 6);
  return "Group " + std::string(group_id.substr(group_id.size() - n));
}

std::vector<std::string> generate_group_ids(std::size_t n, std::uint64_t seed) {
  static constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
  std::mt19937_64 rng(seed);
  std::vector<std::string> ids;
  ids.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::string id = "@TGS#_@TGS#";
    for (int k = 0; k < 12; ++k) id += alphabet[rng() % alphabet.size()];
    ids.push_back(std::move(id));
  }
  return ids;
}

bool well_formed_group_id(std::string_view id) {
  if (!id.starts_with(tencent::community_prefix)) return false;
  if (id.size() <= tencent::community_prefix.size() || id.size() > 64) return false;
  for (char c : id) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '@' ||
                    c == '#' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string to_json(const Stats& s) {
  namespace json = boost::json;
  auto counts = [](const auto& by_key) {
    json::object o;
    for (const auto& [key, n] : by_key) o[fmt::to_string(key)] = n;
    return o;
  };
  json::object apps;
  for (const auto& [id, a] : s.apps) {
    apps[std::to_string(id)] = json::object{{"requests", a.requests},
                                            {"max_window", a.max_window},
                                            {"qps", a.qps},
                                            {"list_calls", a.list_calls},
                                            {"list_max_window", a.list_max_window},
                                            {"info_calls", a.info_calls},
                                            {"info_max_window", a.info_max_window},
                                            {"info_max_ids", a.info_max_ids},
                                            {"source_switches", a.source_switches},
                                            {"source_overlaps", a.source_overlaps},
                                            {"sources", counts(a.sources)}};
  }
  json::object o{{"requests", s.requests},
                 {"list_requests", s.list_requests},
                 {"info_requests", s.info_requests},
                 {"control_requests", s.control_requests},
                 {"connections_accepted", s.connections_accepted},
                 {"connections_open", s.connections_open},
                 {"handshakes", s.handshakes},
                 {"usersig_verifications", s.usersig_verifications},
                 {"codes", counts(s.codes)},
                 {"events", counts(s.events)},
                 {"apps", std::move(apps)}};
  if (!s.groups.empty()) o["groups"] = counts(s.groups);
  return json::serialize(o);
}

}  // namespace groupwatch::emulator
