#include "groupwatch/tencent/errors.hpp"

#include <algorithm>
#include <array>

#include "groupwatch/util/names.hpp"

namespace groupwatch::tencent {
namespace {

// Sorted by code (classify relies on it; a test checks it).
constexpr std::array<CodeInfo, 35> code_table{{
    {0, Action::record, "success"},
    {10002, Action::retry, "group service internal error"},
    {10003, Action::report, "illegal command"},
    {10004, Action::report, "invalid parameter"},
    {10006, Action::slow_down, "operation frequency limit"},
    {10007, Action::park_group, "no permission: not a Community group"},
    {10010, Action::park_group, "group does not exist or was dissolved"},
    {10015, Action::park_group, "invalid group ID"},
    {60004, Action::renew_sig_once, "bad signature (UserSig rejected)"},
    {60005, Action::renew_sig_once, "bad signature (UserSig rejected)"},
    {60006, Action::stop_app, "SDKAppID invalid or misconfigured"},
    {60007, Action::slow_down, "call frequency over the per-API limit"},
    {60008, Action::retry, "server timeout"},
    {60010, Action::stop_app, "identifier is not an App Administrator"},
    {60011, Action::slow_down, "call frequency over the per-app limit"},
    {60012, Action::stop_app, "SDKAppID missing or misconfigured"},
    {60014, Action::retry, "server timeout"},
    {60016, Action::stop_app, "app disabled or misconfigured"},
    {60018, Action::slow_down, "call frequency over the limit"},
    {60019, Action::slow_down, "call frequency over the limit"},
    {60020, Action::stop_app, "app plan expired or misconfigured"},
    {60021, Action::stop_app, "caller not allowed for this app"},
    {70001, Action::renew_sig, "UserSig expired"},
    {70003, Action::renew_sig_once, "UserSig invalid"},
    {70005, Action::renew_sig_once, "UserSig invalid"},
    {70009, Action::stop_app, "UserSig does not verify: wrong secret key"},
    {70013, Action::stop_app, "identifier does not match the UserSig"},
    {70014, Action::stop_app, "SDKAppID does not match the UserSig"},
    {70016, Action::stop_app, "key not found: wrong region or SDKAppID"},
    {70020, Action::stop_app, "SDKAppID not found: wrong region or SDKAppID"},
    {70050, Action::pause_app, "too many bad signatures: wait at least 60 s"},
    {70052, Action::renew_sig_once, "UserSig invalidated"},
    {70169, Action::retry, "server internal error"},
    {70403, Action::stop_app, "identifier is not an App Administrator"},
    {70500, Action::retry, "server internal error"},
}};

// Not a vendor code: what the poller records when no answer came back.
constexpr CodeInfo network_error{network_error_code, Action::retry, "network error: no answer"};

}  // namespace

constexpr std::array<std::string_view, 9> actions{"record",    "retry",      "slow_down", "renew_sig", "renew_sig_once",
                                                  "pause_app", "park_group", "stop_app",  "report"};
static_assert(util::names_each(actions, Action::report));

std::string_view to_string(Action a) {
  return util::name_of(actions, a, "report");
}

std::span<const CodeInfo> known_codes() {
  return code_table;
}

CodeInfo classify(std::int64_t code) {
  if (code == network_error_code) return network_error;
  auto it = std::lower_bound(code_table.begin(), code_table.end(), code,
                             [](const CodeInfo& c, std::int64_t v) { return c.code < v; });
  if (it != code_table.end() && it->code == code) return *it;
  return CodeInfo{code, Action::report, "unknown error code"};
}

}  // namespace groupwatch::tencent
