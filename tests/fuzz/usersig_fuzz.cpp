// libFuzzer target: decoding and verifying arbitrary UserSig text never
// crashes, nothing random verifies against a fixed key, and what decodes
// re-encodes (make_usersig) to a UserSig that verifies. An input starting
// with '{' is taken as the UserSig's JSON and wrapped (zlib, url-safe
// base64) first, so the field checks behind the compression get fuzzed too.
#include <openssl/evp.h>
#include <zlib.h>

#include <string>
#include <string_view>
#include <vector>

#include "fuzz_target.hpp"
#include "groupwatch/tencent/usersig.hpp"

namespace {

std::string wrap_json(std::string_view json) {
  uLongf zlen = compressBound(static_cast<uLong>(json.size()));
  std::vector<unsigned char> z(zlen);
  if (compress2(z.data(), &zlen, reinterpret_cast<const Bytef*>(json.data()), static_cast<uLong>(json.size()), 6) !=
      Z_OK) {
    return {};
  }
  std::string b64(4 * ((zlen + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()), z.data(), static_cast<int>(zlen));
  b64.resize(static_cast<std::size_t>(n));
  for (char& c : b64) c = c == '+' ? '*' : c == '/' ? '-' : c == '=' ? '_' : c;
  return b64;
}

}  // namespace

GW_FUZZ_TARGET(usersig) {
  using namespace groupwatch::tencent;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  std::string wrapped;
  if (!text.empty() && text.front() == '{') {
    wrapped = wrap_json(text);
    text = wrapped;
  }
  const DecodeResult d = decode_usersig(text);
  GW_FUZZ_CHECK(!to_string(d.error).empty());
  const UserSigError v = verify_usersig(text, "fuzz-key", 1400000000, "admin", 1700000000);
  GW_FUZZ_CHECK(v != UserSigError::none);
  if (d.error == UserSigError::none) {
    // A decodable UserSig's fields survive a round trip through the generator.
    const auto& s = d.sig;
    if (s.identifier.size() <= 256 && s.expire > 0 && s.expire < (std::int64_t{1} << 40) && s.time >= 0 &&
        s.time < (std::int64_t{1} << 40)) {
      const std::string again = make_usersig("fuzz-key", s.sdkappid, s.identifier, s.expire, s.time);
      GW_FUZZ_CHECK(verify_usersig(again, "fuzz-key", s.sdkappid, s.identifier, s.time) == UserSigError::none);
    }
  }
  return 0;
}
