#pragma once
// Building the request: regions, endpoints, the target with its five query
// parameters, and the JSON body.
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace groupwatch::tencent {

inline constexpr std::string_view command_path = "/v4/million_group_open_http_svc/get_online_member_num";
inline constexpr std::string_view community_prefix = "@TGS#_";

struct Region {
  std::string_view name;
  std::string_view primary;
  std::string_view backup;  // empty when none is listed
};
std::span<const Region> regions();
std::optional<Region> find_region(std::string_view name);

/// A parsed base URL: https://host[:port][/base/path]
struct Endpoint {
  bool tls = true;
  std::string host;
  std::string port;         // "443" by default for https, "80" for http
  std::string base_path;    // without trailing slash; usually empty
  std::string url() const;  // back to text
};
/// Accepts https:// (and http:// only when `allow_plain`). `error` says why not.
std::optional<Endpoint> parse_endpoint(std::string_view url, std::string* error, bool allow_plain = false);
Endpoint region_endpoint(const Region& r);

/// base_path + command_path + "?sdkappid=..&identifier=..&usersig=..&random=..&contenttype=json"
/// identifier is percent-encoded where needed; usersig needs none by construction.
std::string build_target(std::string_view base_path, std::uint64_t sdkappid, std::string_view identifier,
                         std::string_view usersig, std::uint32_t random);

/// The same for another command of the same API (`path` like command_path).
std::string build_target_for(std::string_view path, std::string_view base_path, std::uint64_t sdkappid,
                             std::string_view identifier, std::string_view usersig, std::uint32_t random);

/// {"GroupId":"..."} with correct JSON escaping.
std::string build_body(std::string_view group_id);

/// The same body in three pieces that refer to `group_id` instead of copying
/// it, for an ID that JSON writes as it is (printable ASCII without `"` or
/// `\`, as the vendor's IDs are); nullopt for any other: use build_body.
std::optional<std::array<std::string_view, 3>> body_pieces(std::string_view group_id);

}  // namespace groupwatch::tencent
