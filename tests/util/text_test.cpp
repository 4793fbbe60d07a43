#include "groupwatch/util/text.hpp"

#include <gtest/gtest.h>

#include <chrono>

namespace groupwatch {
namespace {

using namespace std::chrono_literals;

TEST(ParseDuration, AcceptsEachUnit) {
  EXPECT_EQ(parse_duration("250ms"), Millis(250));
  EXPECT_EQ(parse_duration("5s"), Millis(5'000));
  EXPECT_EQ(parse_duration("4m"), Millis(240'000));
  EXPECT_EQ(parse_duration("1h"), Millis(3'600'000));
  EXPECT_EQ(parse_duration("1d"), Millis(86'400'000));
  EXPECT_EQ(parse_duration("0s"), Millis(0));
}

TEST(ParseDuration, AcceptsCombinedForms) {
  EXPECT_EQ(parse_duration("1m30s"), Millis(90'000));
  EXPECT_EQ(parse_duration("1h30m"), Millis(5'400'000));
  EXPECT_EQ(parse_duration("1s500ms"), Millis(1'500));
  EXPECT_EQ(parse_duration("1d2h3m4s5ms"), Millis(86'400'000 + 7'200'000 + 180'000 + 4'000 + 5));
  EXPECT_EQ(parse_duration("90s"), Millis(90'000));
}

TEST(ParseDuration, RejectsEverythingElse) {
  for (const char* bad : {"", "5", "s", "ms", "-5s", "+5s", "5 s", " 5s", "5s ", "5x", "5S", "1.5s", "1s1m", "1m1m",
                          "5sec", "1h30", "0x10s", "5ms5s", "１s"}) {
    EXPECT_EQ(parse_duration(bad), std::nullopt) << '"' << bad << '"';
  }
}

TEST(ParseDuration, RejectsOverflow) {
  EXPECT_EQ(parse_duration("9223372036854775807ms"), Millis(INT64_MAX));
  EXPECT_EQ(parse_duration("9223372036854775808ms"), std::nullopt);
  EXPECT_EQ(parse_duration("106751991167d"), Millis(106751991167LL * 86'400'000));
  EXPECT_EQ(parse_duration("106751991168d"), std::nullopt);
  EXPECT_EQ(parse_duration("106751991167d1000h"), std::nullopt);
  EXPECT_EQ(parse_duration("99999999999999999999999s"), std::nullopt);
}

TEST(FormatDuration, UsesTheLargestExactUnit) {
  EXPECT_EQ(format_duration(Millis(240'000)), "4m");
  EXPECT_EQ(format_duration(Millis(1'500)), "1500ms");
  EXPECT_EQ(format_duration(Millis(90'000)), "90s");
  EXPECT_EQ(format_duration(Millis(86'400'000)), "1d");
  EXPECT_EQ(format_duration(Millis(3'600'000 * 25)), "25h");
  EXPECT_EQ(format_duration(Millis(0)), "0s");
  EXPECT_EQ(format_duration(Millis(-5'000)), "-5s");
  EXPECT_EQ(format_duration(Millis(INT64_MIN)), "-9223372036854775808ms");
}

TEST(FormatDuration, RoundTripsThroughParse) {
  for (std::int64_t ms : {1LL, 999LL, 1'000LL, 61'000LL, 3'600'000LL, 86'400'000LL * 180, 123'456'789LL}) {
    EXPECT_EQ(parse_duration(format_duration(Millis(ms))), Millis(ms)) << ms;
  }
}

TEST(FormatRfc3339, WritesUtcWithMilliseconds) {
  using namespace std::chrono;
  sys_days day = 2026y / November / 25;
  EXPECT_EQ(format_rfc3339_ms(day + 16h + 40min + 123ms), "2026-11-25T16:40:00.123Z");
  EXPECT_EQ(format_rfc3339_ms(system_clock::time_point{}), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_rfc3339_ms(system_clock::time_point{} - 1ms), "1969-12-31T23:59:59.999Z");
  sys_days leap = 2024y / February / 29;
  EXPECT_EQ(format_rfc3339_ms(leap + 23h + 59min + 59s + 7ms), "2024-02-29T23:59:59.007Z");
}

TEST(JsonString, EscapesWhatJsonRequires) {
  EXPECT_EQ(json_string(""), R"("")");
  EXPECT_EQ(json_string("plain"), R"("plain")");
  EXPECT_EQ(json_string("a\"b\\c"), R"("a\"b\\c")");
  EXPECT_EQ(json_string("\n\r\t\b\f"), R"("\n\r\t\b\f")");
  EXPECT_EQ(json_string(std::string_view("\x00\x01\x1f", 3)), R"("\u0000\u0001\u001f")");
  EXPECT_EQ(json_string("/\x7f"), "\"/\x7f\"");
}

TEST(JsonString, KeepsValidUtf8) {
  EXPECT_EQ(json_string("群组 é 😀"), "\"群组 é 😀\"");
  EXPECT_EQ(json_string("\xF4\x8F\xBF\xBF"), "\"\xF4\x8F\xBF\xBF\"");  // U+10FFFF
}

TEST(JsonString, ReplacesInvalidUtf8) {
  const std::string fffd = "\xEF\xBF\xBD";
  EXPECT_EQ(json_string("a\xFFz"), "\"a" + fffd + "z\"");
  EXPECT_EQ(json_string("\xC0\x80"), "\"" + fffd + fffd + "\"");                        // overlong NUL
  EXPECT_EQ(json_string("\xED\xA0\x80"), "\"" + fffd + fffd + fffd + "\"");             // surrogate
  EXPECT_EQ(json_string("\xF4\x90\x80\x80"), "\"" + fffd + fffd + fffd + fffd + "\"");  // > U+10FFFF
  EXPECT_EQ(json_string("ok\xE7\xBE"), "\"ok" + fffd + fffd + "\"");                    // truncated at the end
}

// The one UTF-8 check (JSON strings, log fields, group IDs, InfluxDB's line
// protocol): against the definition, for every 1- and 2-byte sequence and
// the edges of the 3- and 4-byte ones.
TEST(Utf8, SequenceLengthFollowsTheDefinition) {
  for (int a = 0; a < 256; ++a) {
    const std::string one(1, static_cast<char>(a));
    EXPECT_EQ(groupwatch::utf8_sequence_length(one, 0), a < 0x80 ? 1u : 0u) << a;
    for (int b = 0; b < 256; ++b) {
      const std::string two{static_cast<char>(a), static_cast<char>(b)};
      const bool valid2 = a >= 0xC2 && a <= 0xDF && b >= 0x80 && b <= 0xBF;
      const std::size_t want = a < 0x80 ? 1 : valid2 ? 2 : 0;
      if (a < 0xE0) {
        EXPECT_EQ(groupwatch::utf8_sequence_length(two, 0), want) << a << " " << b;
      }
    }
  }
  const std::pair<const char*, std::size_t> edges[] = {
      {"\xE0\x9F\xBF", 0},     {"\xE0\xA0\x80", 3},     {"\xED\x9F\xBF", 3},     {"\xED\xA0\x80", 0},
      {"\xEF\xBF\xBF", 3},     {"\xE7\xBE", 0},         {"\xF0\x8F\xBF\xBF", 0}, {"\xF0\x90\x80\x80", 4},
      {"\xF4\x8F\xBF\xBF", 4}, {"\xF4\x90\x80\x80", 0}, {"\xF5\x80\x80\x80", 0}, {"\xE4\xB8\x41", 0},
  };
  for (const auto& [bytes, want] : edges) EXPECT_EQ(groupwatch::utf8_sequence_length(bytes, 0), want) << bytes;
}

TEST(JsonString, AppendsToExistingText) {
  std::string out = "{\"k\":";
  append_json_string(out, "v\"");
  EXPECT_EQ(out, R"({"k":"v\"")");
}

TEST(UrlHost, BracketsOnlyAnIpv6Address) {
  EXPECT_EQ(url_host("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(url_host("adminapisgp.im.qcloud.com"), "adminapisgp.im.qcloud.com");
  EXPECT_EQ(url_host("::1"), "[::1]");
  EXPECT_EQ(url_host("fe80::1%eth0"), "[fe80::1%eth0]");
}

TEST(ParseNumber, TakesTheWholeTextOrNothing) {
  EXPECT_EQ(parse_number<std::uint64_t>("18446744073709551615"), UINT64_MAX);
  EXPECT_EQ(parse_number<std::int64_t>("-42"), -42);
  EXPECT_EQ(parse_number<double>("0.25"), 0.25);
  for (std::string_view bad : {"", " 1", "1 ", "1x", "+1", "0x10", "1.5"}) {
    EXPECT_EQ(parse_number<std::int64_t>(bad), std::nullopt) << "'" << bad << "'";
  }
  EXPECT_EQ(parse_number<std::uint32_t>("-1"), std::nullopt);
  EXPECT_EQ(parse_number<double>("1e"), std::nullopt);
}

TEST(ParseNumber, SaysWhenANumberIsTooLargeForItsType) {
  bool too_large = true;
  EXPECT_EQ(parse_number<std::uint16_t>("65535", &too_large), 65535);
  EXPECT_FALSE(too_large);
  EXPECT_EQ(parse_number<std::uint16_t>("65536", &too_large), std::nullopt);
  EXPECT_TRUE(too_large);
  EXPECT_EQ(parse_number<std::uint16_t>("x", &too_large), std::nullopt);
  EXPECT_FALSE(too_large);
  EXPECT_EQ(parse_number<std::int64_t>("-9223372036854775809", &too_large), std::nullopt);
  EXPECT_TRUE(too_large);
}

}  // namespace
}  // namespace groupwatch
