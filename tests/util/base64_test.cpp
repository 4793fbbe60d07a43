// base64 through OpenSSL: RFC 4648's vectors, binary round trips, and the
// strictness the UserSig decoder relies on.
#include "groupwatch/util/base64.hpp"

#include <gtest/gtest.h>

#include <random>

namespace {

using groupwatch::base64_decode;
using groupwatch::base64_encode;

TEST(Base64, Rfc4648Vectors) {
  const std::pair<const char*, const char*> vectors[] = {{"", ""},
                                                         {"f", "Zg=="},
                                                         {"fo", "Zm8="},
                                                         {"foo", "Zm9v"},
                                                         {"foob", "Zm9vYg=="},
                                                         {"fooba", "Zm9vYmE="},
                                                         {"foobar", "Zm9vYmFy"}};
  for (const auto& [plain, coded] : vectors) {
    EXPECT_EQ(base64_encode(plain), coded) << plain;
    EXPECT_EQ(base64_decode(coded), std::string(plain)) << coded;
  }
}

TEST(Base64, BinaryRoundTripsAtEveryLength) {
  std::mt19937 rng(7);
  for (std::size_t len = 0; len < 70; ++len) {
    std::string bytes(len, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng() & 0xFF);
    const auto coded = base64_encode(bytes);
    EXPECT_EQ(coded.size(), (len + 2) / 3 * 4);
    EXPECT_EQ(base64_decode(coded), bytes) << len;
  }
}

TEST(Base64, DecodingIsStrict) {
  for (const char* bad :
       {"Zg=", "Zg", "Z===", "Zg=a", "=Zg=", "Zm9v\n", " Zm9v", "Zm9v Yg==", "Zm-v", "Zm_v", "Zm9v*g=="})
    EXPECT_FALSE(base64_decode(bad).has_value()) << bad;
}

}  // namespace
