#include <gtest/gtest.h>

#include <chrono>

#include "delivery/spool.hpp"
#include "groupwatch/delivery/result.hpp"

namespace {

using namespace std::chrono;
using groupwatch::delivery::Result;

Result example() {
  Result r;
  r.time = sys_days{year{2026} / 11 / 25} + 16h + 40min + 123ms + 456us;
  r.app = "prod-sg";
  r.sdkappid = 1400000001;
  r.group_id = "@TGS#_@TGS#cQVLVHIM62CJ";
  r.online_member_num = 1000;
  return r;
}

TEST(ToJsonLine, MatchesTheInterfaceExample) {
  EXPECT_EQ(groupwatch::delivery::to_json_line(example()),
            R"({"time":"2026-11-25T16:40:00.123Z","app":"prod-sg","sdkappid":1400000001,)"
            R"("group_id":"@TGS#_@TGS#cQVLVHIM62CJ","online_member_num":1000,"error_code":0,"error_info":"",)"
            R"("group_name":null,"labels":{}})");
}

TEST(ToJsonLine, ErrorHasNullCountAndEscapedInfo) {
  Result r = example();
  r.error_code = -1;
  r.online_member_num = 5;  // must not leak into the line
  r.error_info = "HTTP 502 \"bad gateway\"\n";
  EXPECT_EQ(groupwatch::delivery::to_json_line(r),
            R"({"time":"2026-11-25T16:40:00.123Z","app":"prod-sg","sdkappid":1400000001,)"
            R"("group_id":"@TGS#_@TGS#cQVLVHIM62CJ","online_member_num":null,"error_code":-1,)"
            R"("error_info":"HTTP 502 \"bad gateway\"\n","group_name":null,"labels":{}})");
}

TEST(ToJsonLine, CarriesTheNameAndLabelsEscaped) {
  Result r = example();
  auto meta = std::make_shared<groupwatch::config::GroupMeta>();
  meta->name = "VIP \"lounge\" \xE4\xB8\xAD";
  meta->labels = {{"region", "sg"}, {"tier", "gold\n"}};
  r.meta = meta;
  const auto line = groupwatch::delivery::to_json_line(r);
  EXPECT_TRUE(line.ends_with(R"("error_info":"","group_name":"VIP \"lounge\" )"
                             "\xE4\xB8\xAD"
                             R"(",)"
                             R"("labels":{"region":"sg","tier":"gold\n"}})"))
      << line;
}

TEST(SpoolRecord, CarriesNameAndLabelsAndReadsOldRecords) {
  Result r = example();
  auto meta = std::make_shared<groupwatch::config::GroupMeta>();
  meta->name = "VIP lounge";
  meta->labels = {{"tier", "gold"}};
  r.meta = meta;
  std::string framed;
  groupwatch::delivery::detail::encode_record(r, framed);
  auto back = groupwatch::delivery::detail::decode_payload(std::string_view(framed).substr(8));
  ASSERT_TRUE(back.has_value());
  ASSERT_TRUE(back->meta);
  EXPECT_EQ(*back->meta, *meta);
  // A record written before names existed (no meta section) still decodes.
  r.meta.reset();
  framed.clear();
  groupwatch::delivery::detail::encode_record(r, framed);
  back = groupwatch::delivery::detail::decode_payload(std::string_view(framed).substr(8));
  ASSERT_TRUE(back.has_value());
  EXPECT_FALSE(back->meta);
}

TEST(ToJsonLine, ZeroCountIsNotNull) {
  Result r = example();
  r.online_member_num = 0;
  EXPECT_NE(groupwatch::delivery::to_json_line(r).find("\"online_member_num\":0,"), std::string::npos);
}

TEST(SpoolRecord, RoundTripsEveryField) {
  Result r = example();
  r.error_code = 10007;
  r.online_member_num.reset();
  r.error_info = std::string("with\0nul", 8);
  std::string framed;
  std::size_t n = groupwatch::delivery::detail::encode_record(r, framed);
  ASSERT_EQ(n, framed.size());
  auto back = groupwatch::delivery::detail::decode_payload(std::string_view(framed).substr(8));
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->time, r.time);
  EXPECT_EQ(back->app, r.app);
  EXPECT_EQ(back->sdkappid, r.sdkappid);
  EXPECT_EQ(back->group_id, r.group_id);
  EXPECT_FALSE(back->online_member_num.has_value());
  EXPECT_EQ(back->error_code, 10007);
  EXPECT_EQ(back->error_info, r.error_info);
  // Truncated payloads are refused, not misread.
  EXPECT_FALSE(groupwatch::delivery::detail::decode_payload(std::string_view(framed).substr(8, n - 9)).has_value());
}

}  // namespace
