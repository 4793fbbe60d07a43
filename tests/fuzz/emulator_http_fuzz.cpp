// libFuzzer target: raw bytes on one emulator connection: Beast's request
// parser with the server's limits, then the same handling as the server.
#include <string_view>

#include "emulator_common.hpp"

GW_FUZZ_TARGET(emulator_http) {
  using namespace groupwatch::emulator;
  Handler handler(gw_fuzz::emulator_options());
  const auto answers = handler.handle_bytes(std::string_view(reinterpret_cast<const char*>(data), size));
  GW_FUZZ_CHECK(size == 0 || !answers.empty());
  for (std::size_t i = 0; i < answers.size(); ++i) {
    gw_fuzz::check_handled(answers[i]);
    // Only the last answer may end the connection.
    if (i + 1 < answers.size()) GW_FUZZ_CHECK(!answers[i].close);
  }
  return 0;
}
