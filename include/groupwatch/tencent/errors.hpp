#pragma once
// What a poller does about each ErrorCode (tencent-api.md, "Error codes").
#include <cstdint>
#include <span>
#include <string_view>

namespace groupwatch::tencent {

enum class Action {
  record,          // 0: success, record the count
  retry,           // transient server error: retry with backoff (limited)
  slow_down,       // rate limited: back off, lower the app's rate (AIMD)
  renew_sig,       // 70001 expired: regenerate the UserSig, retry at once
  renew_sig_once,  // bad signature: regenerate once, then stop the app
  pause_app,       // 70050: wait at least 60 s
  park_group,      // 10007/10010/10015: record once, stop polling the group
  stop_app,        // misconfiguration: stop polling the app, report
  report,          // 10003/10004 and unknown codes: record, no retry
};
std::string_view to_string(Action a);

struct CodeInfo {
  std::int64_t code;
  Action action;
  std::string_view meaning;
};
/// Every code listed in tencent-api.md.
std::span<const CodeInfo> known_codes();
/// Unknown codes map to Action::report with meaning "unknown error code";
/// network_error_code maps to Action::retry.
CodeInfo classify(std::int64_t code);

/// The error_code recorded for failures that never got an answer.
inline constexpr std::int64_t network_error_code = -1;

}  // namespace groupwatch::tencent
