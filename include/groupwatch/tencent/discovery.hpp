#pragma once
// The two neighbouring commands group discovery uses: get_appid_group_list
// (pages of group IDs, a 64-bit cursor) and get_group_info (Type and Name of
// up to 50 groups a call). Request bodies and answer parsing; never throws.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace groupwatch::tencent {

inline constexpr std::string_view list_command_path = "/v4/group_open_http_svc/get_appid_group_list";
inline constexpr std::string_view info_command_path = "/v4/group_open_http_svc/get_group_info";
inline constexpr std::uint32_t list_max_limit = 10000;
inline constexpr std::size_t info_max_groups = 50;

/// {"Limit":N,"Next":C}
std::string build_list_body(std::uint32_t limit, std::uint64_t next);
/// {"GroupIdList":[...],"ResponseFilter":{"GroupBaseInfoFilter":["Type","Name"]}}
std::string build_info_body(const std::vector<std::string>& ids);

/// The call-level ErrorCode and ErrorInfo of either command's answer.
struct CallStatus {
  bool invalid = false;  // not a JSON object with an integer ErrorCode
  std::string invalid_what;
  std::int64_t error_code = 0;
  std::string error_info;
};
CallStatus parse_status(std::string_view body);

/// A call's outcome. `ok` false with `invalid` set: the body was not the
/// expected JSON (then `error_code` is meaningless).
struct ListPage {
  bool invalid = false;
  std::string invalid_what;
  std::int64_t error_code = 0;
  std::string error_info;
  std::vector<std::string> ids;
  std::uint64_t next = 0;  // 0: the listing is complete
  std::uint64_t total = 0;
};
ListPage parse_list_answer(std::string_view body);

struct GroupInfo {
  std::string id;
  std::int64_t error_code = 0;  // per group: 10010 when it no longer exists
  std::string type;             // Community, Public, Private, ChatRoom, AVChatRoom
  std::string name;
};
struct InfoAnswer {
  bool invalid = false;
  std::string invalid_what;
  std::int64_t error_code = 0;
  std::string error_info;
  std::vector<GroupInfo> groups;
};
InfoAnswer parse_info_answer(std::string_view body);

}  // namespace groupwatch::tencent
