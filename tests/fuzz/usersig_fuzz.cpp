// libFuzzer target: decoding and verifying arbitrary UserSig text never
// crashes, and nothing random verifies against a fixed key.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "groupwatch/tencent/usersig.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace groupwatch::tencent;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  (void)decode_usersig(text);
  if (verify_usersig(text, "fuzz-key", 1400000000, "admin", 0) == UserSigError::none) std::abort();
  return 0;
}
