#include "groupwatch/util/log.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <mutex>
#include <thread>
#include <vector>

#include "groupwatch/util/events.hpp"

namespace groupwatch::log {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr std::string_view t0 = "2026-11-25T16:40:00.123Z";

// Captures emitted lines and restores the global logger state afterwards.
class LogCapture : public ::testing::Test {
 protected:
  void SetUp() override {
    set_writer([this](std::string_view line) {
      std::lock_guard lock(mutex_);
      lines_.emplace_back(line);
    });
  }
  void TearDown() override {
    set_writer({});
    configure(Level::info, Format::logfmt);
    clear_secrets();
  }
  std::vector<std::string> lines() {
    std::lock_guard lock(mutex_);
    return lines_;
  }

  std::mutex mutex_;
  std::vector<std::string> lines_;
};

TEST(LogFormat, LogfmtLine) {
  std::string line = format_line(Format::logfmt, Level::info, events::poll_start, "hello world",
                                 {{"app", "prod-sg"}, {"n", 5}, {"ratio", 0.5}}, t0);
  EXPECT_EQ(line,
            "time=2026-11-25T16:40:00.123Z level=info event=poll.start msg=\"hello world\" app=prod-sg n=5 ratio=0.5");
}

TEST(LogFormat, LogfmtQuotesValuesThatNeedIt) {
  std::string line =
      format_line(Format::logfmt, Level::warn, "x.y", "m",
                  {{"a", "two words"}, {"b", "k=v"}, {"c", "say \"hi\""}, {"d", ""}, {"e", "line\nbreak"}}, t0);
  EXPECT_THAT(line, HasSubstr(R"( a="two words")"));
  EXPECT_THAT(line, HasSubstr(R"( b="k=v")"));
  EXPECT_THAT(line, HasSubstr(R"( c="say \"hi\"")"));
  EXPECT_THAT(line, HasSubstr(R"( d="")"));
  EXPECT_THAT(line, HasSubstr(R"( e="line\nbreak")"));
  EXPECT_THAT(line, HasSubstr(" level=warn "));
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(LogFormat, LogfmtSanitisesKeys) {
  std::string line = format_line(Format::logfmt, Level::info, "e", "m", {{"bad key=", "v"}}, t0);
  EXPECT_THAT(line, HasSubstr(" bad_key_=v"));
}

TEST(LogFormat, JsonLine) {
  std::string line = format_line(Format::json, Level::error, events::sink_failed, "disk \"full\"",
                                 {{"sink", "ndjson"}, {"errors", std::uint64_t{3}}, {"ok", false}}, t0);
  EXPECT_EQ(line, R"({"time":"2026-11-25T16:40:00.123Z","level":"error","event":"sink.failed","msg":"disk \"full\"",)"
                  R"("sink":"ndjson","errors":3,"ok":false})");
}

TEST(LogFormat, JsonNonFiniteDoubleIsAString) {
  std::string line = format_line(Format::json, Level::info, "e", "m", {{"x", 1.0 / 0.0}}, t0);
  EXPECT_THAT(line, HasSubstr(R"("x":"+Inf")"));
}

TEST(LogFormat, InvalidUtf8IsQuotedAndReplacedInEveryFormat) {
  for (auto f : {Format::logfmt, Format::json}) {
    auto line = format_line(f, Level::info, "poll.error", "m", {{"group", "@TGS#_BAD\xffX"}}, t0);
    EXPECT_EQ(line.find('\xff'), std::string::npos) << line;
    EXPECT_NE(line.find("BAD\xEF\xBF\xBDX"), std::string::npos) << line;
  }
}

TEST(LogFormat, DoublesAreRoundedToThreeDecimals) {
  EXPECT_EQ(Field("q", 117.83581540324428).value, "117.836");
  EXPECT_EQ(Field("q", 200.0).value, "200");
  EXPECT_EQ(Field("q", 0.5).value, "0.5");
  EXPECT_EQ(Field("q", -0.0001).value, "0");
  EXPECT_TRUE(Field("q", 1.25).number);
}

TEST(LogParse, LevelsAndFormats) {
  EXPECT_EQ(parse_level("debug"), Level::debug);
  EXPECT_EQ(parse_level("warning"), Level::warn);
  EXPECT_EQ(parse_level("error"), Level::error);
  EXPECT_EQ(parse_level("loud"), std::nullopt);
  EXPECT_EQ(parse_format("json"), Format::json);
  EXPECT_EQ(parse_format("logfmt"), Format::logfmt);
  EXPECT_EQ(parse_format("xml"), std::nullopt);
}

TEST_F(LogCapture, RedactsSecretsInMessageAndFields) {
  const std::string key = "5bd2850fff3ecb11d7c805251c51ee463a25727bddc2385f3fa8bfee1bb93b5e";
  add_secret(key);
  for (Format f : {Format::logfmt, Format::json}) {
    std::string line = format_line(f, Level::info, "e", "key is " + key + "!",
                                   {{"url", "https://x/?usersig=" + key + "&random=1"}, {"k", key}}, t0);
    EXPECT_THAT(line, Not(HasSubstr(key)));
    EXPECT_THAT(line, Not(HasSubstr(key.substr(0, 32))));
    EXPECT_THAT(line, HasSubstr("key is [redacted]!"));
    EXPECT_THAT(line, HasSubstr("usersig=[redacted]&random=1"));
  }
  configure(Level::info, Format::json);
  info("e", key);
  ASSERT_EQ(lines().size(), 1u);
  EXPECT_THAT(lines()[0], Not(HasSubstr(key)));
  EXPECT_THAT(lines()[0], HasSubstr(R"("msg":"[redacted]")"));
}

TEST_F(LogCapture, RedactsOverlappingSecretsWhole) {
  add_secret("abcd");
  add_secret("xxabcdyy");  // longer one registered later still wins
  EXPECT_EQ(redact("1 xxabcdyy 2 abcd"), "1 [redacted] 2 [redacted]");
}

TEST_F(LogCapture, IgnoresTooShortSecrets) {
  add_secret("");
  add_secret("ab");
  EXPECT_EQ(redact("abc"), "abc");
}

TEST_F(LogCapture, RedactedNumberFieldIsQuoted) {
  add_secret("1400000001");
  std::string line = format_line(Format::json, Level::info, "e", "m", {{"id", std::uint64_t{1400000001}}}, t0);
  EXPECT_THAT(line, HasSubstr(R"("id":"[redacted]")"));
}

TEST_F(LogCapture, LevelFilter) {
  configure(Level::warn, Format::logfmt);
  EXPECT_FALSE(enabled(Level::info));
  info("e", "dropped");
  debug("e", "dropped");
  warn("e", "kept");
  error("e", "kept too");
  auto got = lines();
  ASSERT_EQ(got.size(), 2u);
  EXPECT_THAT(got[0], HasSubstr("level=warn"));
  EXPECT_THAT(got[1], HasSubstr("level=error"));
}

TEST_F(LogCapture, ConcurrentWritersProduceWholeLines) {
  configure(Level::info, Format::logfmt);
  add_secret("topsecret");
  constexpr int threads = 4, per_thread = 250;
  std::vector<std::thread> pool;
  for (int t = 0; t < threads; ++t) {
    pool.emplace_back([t] {
      for (int i = 0; i < per_thread; ++i) {
        info(events::cycle_done, "topsecret done", {{"thread", t}, {"i", i}});
        if (i % 50 == 0) add_secret("another-secret-" + std::to_string(t));
      }
    });
  }
  for (auto& th : pool) th.join();
  auto got = lines();
  ASSERT_EQ(got.size(), std::size_t{threads * per_thread});
  for (const auto& line : got) {
    EXPECT_EQ(line.rfind("time=", 0), 0u) << line;
    EXPECT_THAT(line, HasSubstr("event=cycle.done msg=\"[redacted] done\" thread="));
  }
}

}  // namespace
}  // namespace groupwatch::log
