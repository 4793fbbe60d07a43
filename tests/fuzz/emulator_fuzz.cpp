// libFuzzer target: the emulator's request handling (command and control
// API) on structured input, without HTTP syntax in the way. The input is
// requests separated by "\x1e", each "METHOD\nTARGET\nBODY".
#include <string_view>

#include "emulator_common.hpp"

GW_FUZZ_TARGET(emulator) {
  using namespace groupwatch::emulator;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Handler handler(gw_fuzz::emulator_options());
  int budget = 64;  // requests per input
  while (!in.empty() && budget-- > 0) {
    const auto end = in.find('\x1e');
    std::string_view rec = in.substr(0, end);
    in = end == std::string_view::npos ? std::string_view{} : in.substr(end + 1);
    const auto nl1 = rec.find('\n');
    if (nl1 == std::string_view::npos) continue;
    const std::string_view method = rec.substr(0, nl1);
    rec.remove_prefix(nl1 + 1);
    const auto nl2 = rec.find('\n');
    const std::string_view target = rec.substr(0, nl2);
    const std::string_view body = nl2 == std::string_view::npos ? std::string_view{} : rec.substr(nl2 + 1);
    if (method.empty() || target.empty()) continue;  // no request line has these
    const Handled h = handler.handle(method, target, body);
    gw_fuzz::check_handled(h);
    if (h.action != Handled::Action::reply) break;
  }
  const Stats s = handler.stats(true);
  GW_FUZZ_CHECK(s.apps.size() == 2);
  return 0;
}
