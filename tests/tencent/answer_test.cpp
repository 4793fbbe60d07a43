#include "groupwatch/tencent/answer.hpp"

#include <gtest/gtest.h>

#include <random>

namespace groupwatch::tencent {

void PrintTo(AnswerError e, std::ostream* os) {
  *os << to_string(e);
}

namespace {

constexpr std::string_view ok_body = R"({"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"OnlineMemberNum":1000})";

AnswerError kind(std::string_view body) {
  return parse_answer(body).error;
}

TEST(Answer, Success) {
  ParsedAnswer p = parse_answer(ok_body);
  ASSERT_EQ(p.error, AnswerError::none) << p.detail;
  EXPECT_TRUE(p.answer.action_ok);
  EXPECT_EQ(p.answer.error_code, 0);
  EXPECT_EQ(p.answer.error_info, "");
  EXPECT_EQ(p.answer.online_member_num, 1000u);
}

// A body with simdjson's padding spare is parsed where it lies: what the
// padding holds (here bytes that would end the object early or break it)
// must not change the answer.
TEST(Answer, ParsedInPlaceThePaddingIsNotRead) {
  for (char filler : {'}', '"', ',', '\0'}) {
    std::string buf(ok_body);
    buf.append(64, filler);
    ParsedAnswer p = parse_answer(std::string_view(buf.data(), ok_body.size()), buf.size());
    ASSERT_EQ(p.error, AnswerError::none) << p.detail;
    EXPECT_EQ(p.answer.online_member_num, 1000u);
  }
  std::string truncated(ok_body.substr(0, ok_body.size() - 1));
  const std::size_t len = truncated.size();
  truncated.append(65, '}');
  EXPECT_EQ(parse_answer(std::string_view(truncated.data(), len), truncated.size()).error, AnswerError::not_json);
}

TEST(Answer, IgnoresUnknownFieldsAndOrder) {
  ParsedAnswer p = parse_answer(R"( {"RequestId":"abc","OnlineMemberNum":0,"Nested":{"a":[1,{"b":null}]},
      "ErrorCode":0,"ActionStatus":"OK","Flag":true,"ErrorInfo":"fine"} )");
  ASSERT_EQ(p.error, AnswerError::none) << p.detail;
  EXPECT_EQ(p.answer.online_member_num, 0u);
  EXPECT_EQ(p.answer.error_info, "fine");
}

TEST(Answer, FailureWithoutCountAndWithoutErrorInfo) {
  ParsedAnswer p = parse_answer(R"({"ActionStatus":"FAIL","ErrorCode":10010})");
  ASSERT_EQ(p.error, AnswerError::none) << p.detail;
  EXPECT_FALSE(p.answer.action_ok);
  EXPECT_EQ(p.answer.error_code, 10010);
  EXPECT_EQ(p.answer.error_info, "");
  EXPECT_FALSE(p.answer.online_member_num);
}

TEST(Answer, FailureWithInfo) {
  ParsedAnswer p = parse_answer(
      R"({"ActionStatus":"FAIL","ErrorInfo":"Fail to Parse json data of body, Please check it","ErrorCode":70001})");
  ASSERT_EQ(p.error, AnswerError::none);
  EXPECT_EQ(p.answer.error_code, 70001);
  EXPECT_EQ(p.answer.error_info, "Fail to Parse json data of body, Please check it");
}

TEST(Answer, EscapedStringsAreUnescaped) {
  ParsedAnswer p = parse_answer(R"({"ErrorCode":10004,"ErrorInfo":"bad \"GroupId\" \u7fa4"})");
  ASSERT_EQ(p.error, AnswerError::none);
  EXPECT_EQ(p.answer.error_info, "bad \"GroupId\" \xE7\xBE\xA4");
}

TEST(Answer, FailureWithBadCountStillParses) {
  ParsedAnswer p = parse_answer(R"({"ErrorCode":60008,"OnlineMemberNum":-1})");
  ASSERT_EQ(p.error, AnswerError::none);
  EXPECT_EQ(p.answer.error_code, 60008);
  EXPECT_FALSE(p.answer.online_member_num);
}

TEST(Answer, Empty) {
  EXPECT_EQ(kind(""), AnswerError::empty);
}

TEST(Answer, TooLarge) {
  std::string big(ok_body);
  big.append(max_answer_bytes, ' ');
  ParsedAnswer p = parse_answer(big);
  EXPECT_EQ(p.error, AnswerError::too_large);
  EXPECT_NE(p.detail.find("65536"), std::string::npos) << p.detail;
  std::string just_fits(ok_body);
  just_fits.append(max_answer_bytes - ok_body.size(), ' ');
  EXPECT_EQ(kind(just_fits), AnswerError::none);
}

TEST(Answer, NotJson) {
  ParsedAnswer p = parse_answer(
      "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n"
      "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n");
  EXPECT_EQ(p.error, AnswerError::not_json);
  EXPECT_NE(p.detail.find("502 Bad Gateway"), std::string::npos) << p.detail;
  for (const char* bad :
       {"garbage", "{", "{\"ErrorCode\":0,", "{\"ErrorCode\":0 \"x\":1}", "{'ErrorCode':0}", "{\"ErrorCode\":0}}",
        "{\"ErrorCode\":0} trailing", "{\"ErrorCode\":0,\"OnlineMemberNum\":5,}", "{\"ErrorCode\":01}",
        "{\"ErrorCode\":-}", "{\"ErrorCode\":0,\"OnlineMemberNum\":1.}", "{\"ErrorCode\":0,\"OnlineMemberNum\":--1}",
        "\xFF\xFE{}", "{\"ErrorInfo\":\"\xC3(\",\"ErrorCode\":1}"}) {
    EXPECT_EQ(kind(bad), AnswerError::not_json) << bad;
  }
}

TEST(Answer, EveryTruncationFails) {
  for (std::size_t n = 1; n < ok_body.size(); ++n) {
    AnswerError e = kind(ok_body.substr(0, n));
    EXPECT_NE(e, AnswerError::none) << ok_body.substr(0, n);
  }
}

TEST(Answer, NotObject) {
  for (const char* bad : {"[1,2]", "1000", "\"OK\"", "null", "true"}) {
    EXPECT_EQ(kind(bad), AnswerError::not_object) << bad;
  }
}

TEST(Answer, MissingField) {
  EXPECT_EQ(kind("{}"), AnswerError::missing_field);
  EXPECT_EQ(kind(R"({"ActionStatus":"OK","OnlineMemberNum":5})"), AnswerError::missing_field);
  EXPECT_EQ(kind(R"({"ActionStatus":"OK","ErrorCode":0})"), AnswerError::missing_field);
}

TEST(Answer, WrongType) {
  for (const char* bad :
       {R"({"ErrorCode":"0","OnlineMemberNum":5})", R"({"ErrorCode":0.5,"OnlineMemberNum":5})", R"({"ErrorCode":null})",
        R"({"ErrorCode":0,"OnlineMemberNum":"1000"})", R"({"ErrorCode":0,"OnlineMemberNum":null})",
        R"({"ErrorCode":0,"OnlineMemberNum":[1]})", R"({"ActionStatus":1,"ErrorCode":0,"OnlineMemberNum":5})",
        R"({"ErrorInfo":{},"ErrorCode":0,"OnlineMemberNum":5})",
        R"({"ErrorCode":99999999999999999999,"OnlineMemberNum":5})"}) {
    ParsedAnswer p = parse_answer(bad);
    EXPECT_EQ(p.error, AnswerError::wrong_type) << bad;
    EXPECT_FALSE(p.detail.empty());
  }
}

TEST(Answer, BadCount) {
  EXPECT_EQ(kind(R"({"ErrorCode":0,"OnlineMemberNum":9223372036854775807})"), AnswerError::none);
  EXPECT_EQ(kind(R"({"ErrorCode":-9223372036854775808})"), AnswerError::none);
  for (const char* bad : {R"({"ErrorCode":0,"OnlineMemberNum":-1})", R"({"ErrorCode":0,"OnlineMemberNum":-0.0})",
                          R"({"ErrorCode":0,"OnlineMemberNum":1.5})", R"({"ErrorCode":0,"OnlineMemberNum":1e3})",
                          R"({"ErrorCode":0,"OnlineMemberNum":9223372036854775808})",
                          R"({"ErrorCode":0,"OnlineMemberNum":18446744073709551615})",
                          R"({"ErrorCode":0,"OnlineMemberNum":18446744073709551616})",
                          R"({"ErrorCode":0,"OnlineMemberNum":123456789012345678901234567890})"}) {
    EXPECT_EQ(kind(bad), AnswerError::bad_count) << bad;
  }
}

TEST(Answer, ErrorKindNamesAreDistinct) {
  EXPECT_EQ(to_string(AnswerError::not_json), "not_json");
  EXPECT_NE(to_string(AnswerError::bad_count), to_string(AnswerError::wrong_type));
}

// Random byte edits of real answers must give a typed result, never a crash.
TEST(Answer, SurvivesMutations) {
  std::mt19937 rng(12345);
  const std::string seeds[] = {std::string(ok_body), R"({"ActionStatus":"FAIL","ErrorInfo":"x","ErrorCode":10010})",
                               R"({"RequestId":"r","a":[{"b":[]}],"ErrorCode":0,"OnlineMemberNum":3})"};
  const char alphabet[] = "{}[]\",:-.0123456789eE \\u\x00\xff\x80tnrfalse";
  int ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::string s = seeds[i % 3];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !s.empty(); ++e) {
      std::size_t pos = rng() % s.size();
      switch (rng() % 3) {
        case 0:
          s[pos] = alphabet[rng() % (sizeof alphabet - 1)];
          break;
        case 1:
          s.erase(pos, 1 + rng() % 3);
          break;
        default:
          s.insert(pos, 1, alphabet[rng() % (sizeof alphabet - 1)]);
      }
    }
    ParsedAnswer p = parse_answer(s);
    if (p.error == AnswerError::none) {
      ++ok;
      if (p.answer.error_code == 0) {
        EXPECT_TRUE(p.answer.online_member_num.has_value()) << s;
      }
    } else {
      EXPECT_FALSE(p.detail.empty()) << s;
    }
  }
  EXPECT_GT(ok, 0);
}

}  // namespace
}  // namespace groupwatch::tencent
