// Percent-encoding through Boost.URL: the bytes that stay, the upper-case
// escapes the vendor and InfluxDB were sent before, and strict decoding.
#include "groupwatch/util/url.hpp"

#include <gtest/gtest.h>

#include <string>

namespace {

using groupwatch::append_percent_encoded;
using groupwatch::percent_decode;
using groupwatch::percent_encode;

TEST(PercentEncoding, KeepsOnlyUnreservedBytesAndWhatTheCallerKeeps) {
  EXPECT_EQ(percent_encode("AZaz09-._~"), "AZaz09-._~");
  EXPECT_EQ(percent_encode("@TGS#_a b/c?d&e=f+g%"), "%40TGS%23_a%20b%2Fc%3Fd%26e%3Df%2Bg%25");
  EXPECT_EQ(percent_encode("\xff\x01\xc3\xa9"), "%FF%01%C3%A9");
  EXPECT_EQ(percent_encode(std::string("a\0b", 3)), "a%00b");
  std::string out = "usersig=";
  append_percent_encoded(out, "eJy*rVg-_/", "*");
  EXPECT_EQ(out, "usersig=eJy*rVg-_%2F");
  out.clear();
  append_percent_encoded(out, "a*b", "");
  EXPECT_EQ(out, "a%2Ab");
}

TEST(PercentEncoding, EveryByteRoundTrips) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  const std::string coded = percent_encode(all);
  EXPECT_EQ(coded.size(), 66 + 190 * 3);  // 66 unreserved bytes, 190 escapes
  EXPECT_EQ(percent_decode(coded), all);
}

TEST(PercentDecoding, IsStrictAndLeavesPlusAlone) {
  EXPECT_EQ(percent_decode("%40TGS%23_x"), "@TGS#_x");
  EXPECT_EQ(percent_decode("%c3%A9"), "\xc3\xa9");
  EXPECT_EQ(percent_decode("a+b"), "a+b");
  EXPECT_EQ(percent_decode(""), "");
  for (const char* bad : {"%", "%4", "a%4", "%G0", "%0g", "100%", "%%41"}) {
    EXPECT_FALSE(percent_decode(bad)) << bad;
  }
}

}  // namespace
