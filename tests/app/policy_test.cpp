// The answer policy, without sockets or clocks: each outcome of one attempt
// and the decision it leads to.
#include "app/policy.hpp"

#include <gtest/gtest.h>

#include "groupwatch/tencent/errors.hpp"

namespace {

using groupwatch::app::AttemptState;
using groupwatch::app::decide;
using groupwatch::app::Decision;
using groupwatch::app::Outcome;
using groupwatch::http::Failure;
using namespace std::chrono_literals;
using Do = Decision::Do;

Outcome answer(std::int64_t code, std::string info = "") {
  Outcome o;
  o.code = code;
  o.info = std::move(info);
  return o;
}
Outcome failure(Failure f, bool stale = false) {
  Outcome o;
  o.failure = f;
  o.stale = stale;
  return o;
}
AttemptState first() {
  AttemptState s;
  s.attempt = 1;
  return s;
}

TEST(Policy, SuccessRecordsTheCount) {
  groupwatch::http::Response r;
  r.status = 200;
  r.body = R"({"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","OnlineMemberNum":7})";
  auto d = decide(first(), Outcome::from(r), 1.0);
  EXPECT_EQ(d.what, Do::finish);
  EXPECT_EQ(d.code, 0);
  ASSERT_TRUE(d.count);
  EXPECT_EQ(*d.count, 7u);
}

TEST(Policy, TransientFailuresRetryWithBackoffUntilRetriesRunOut) {
  auto s = first();
  auto d = decide(s, failure(Failure::reset), 1.0);
  EXPECT_EQ(d.what, Do::retry);
  EXPECT_TRUE(d.counts);
  EXPECT_EQ(d.delay, 100ms);
  EXPECT_EQ(d.failure_kind, "reset");
  s.attempt = 3;
  EXPECT_EQ(decide(s, failure(Failure::timeout), 1.5).delay, 600ms);  // 400 ms x jitter
  s.attempt = 4;                                                      // 1 + retries (3) made
  d = decide(s, failure(Failure::timeout), 1.0);
  EXPECT_EQ(d.what, Do::finish);
  EXPECT_EQ(d.code, groupwatch::tencent::network_error_code);
  EXPECT_EQ(d.info, "timeout");
}

TEST(Policy, AStaleConnectionIsRetriedAtOnceWithoutSpendingARetry) {
  auto d = decide(first(), failure(Failure::reset, /*stale=*/true), 1.0);
  EXPECT_EQ(d.what, Do::retry);
  EXPECT_FALSE(d.counts);
  EXPECT_EQ(d.delay, 0ms);
  auto s = first();
  s.extra = groupwatch::app::max_extra_attempts;  // but never forever
  EXPECT_EQ(decide(s, failure(Failure::reset, true), 1.0).what, Do::finish);
}

TEST(Policy, Http5xxRetriesAndOther4xxFinish) {
  Outcome o;
  o.status = 502;
  auto d = decide(first(), o, 1.0);
  EXPECT_EQ(d.what, Do::retry);
  EXPECT_EQ(d.failure_kind, "http_502");
  o.status = 404;
  d = decide(first(), o, 1.0);
  EXPECT_EQ(d.what, Do::finish);
  EXPECT_EQ(d.info, "HTTP 404");
}

TEST(Policy, InvalidAnswerRetries) {
  groupwatch::http::Response r;
  r.status = 200;
  r.body = "not json";
  auto d = decide(first(), Outcome::from(r), 1.0);
  EXPECT_EQ(d.what, Do::retry);
  EXPECT_EQ(d.failure_kind, "invalid_answer");
}

TEST(Policy, RateLimitLowersTheRateAndRetriesOutsideTheRetryBudget) {
  auto d = decide(first(), answer(60007), 1.0);
  EXPECT_EQ(d.what, Do::retry);
  EXPECT_TRUE(d.lower_rate);
  EXPECT_FALSE(d.counts);
  EXPECT_EQ(d.delay, 600ms);  // backoff(1) + 500 ms
}

TEST(Policy, ExpiredSignatureIsRenewedAndRetriedAtOnce) {
  auto d = decide(first(), answer(70001), 1.0);
  EXPECT_EQ(d.what, Do::retry);
  EXPECT_TRUE(d.renew_sig);
  EXPECT_FALSE(d.bad_sig);
  EXPECT_EQ(d.delay, 0ms);
}

// The issue: "server clock two days ahead: 11 requests per group, no mention
// of the clock". A fresh signature called expired is the clock, not the sig.
TEST(Policy, AFreshSignatureCalledExpiredIsClockSkewNotARetry) {
  auto s = first();
  s.sig_fresh = true;
  auto d = decide(s, answer(70001), 1.0);
  EXPECT_EQ(d.what, Do::finish);
  EXPECT_TRUE(d.clock_skew);
  EXPECT_FALSE(d.renew_sig);
  EXPECT_EQ(d.code, 70001);
  EXPECT_FALSE(decide(first(), answer(70001), 1.0).clock_skew);
}

TEST(Policy, ARejectedSignatureIsRenewedOnceThenTheAppStops) {
  auto s = first();
  auto d = decide(s, answer(60004), 1.0);
  EXPECT_EQ(d.what, Do::retry);
  EXPECT_TRUE(d.renew_sig);
  EXPECT_TRUE(d.bad_sig);
  s.bad_sig_renewed_recently = true;
  d = decide(s, answer(60004), 1.0);
  EXPECT_EQ(d.what, Do::stop_app);
  EXPECT_NE(d.stop_reason.find("signature rejected twice"), std::string::npos) << d.stop_reason;
}

TEST(Policy, TooManyBadSignaturesPausesTheApp) {
  auto d = decide(first(), answer(70050), 1.0);
  EXPECT_TRUE(d.pause_app);
  EXPECT_EQ(d.delay, groupwatch::app::pause_for);
}

TEST(Policy, PermanentGroupAnswersParkAndMisconfigurationStops) {
  EXPECT_EQ(decide(first(), answer(10010), 1.0).what, Do::park);
  auto d = decide(first(), answer(70016), 1.0);
  EXPECT_EQ(d.what, Do::stop_app);
  EXPECT_NE(d.stop_reason.find("region"), std::string::npos) << d.stop_reason;
  EXPECT_EQ(decide(first(), answer(10004), 1.0).what, Do::finish);
}

TEST(Policy, StoppingFinishesInsteadOfRetrying) {
  auto s = first();
  s.stopping = true;
  EXPECT_EQ(decide(s, failure(Failure::reset), 1.0).what, Do::finish);
  EXPECT_EQ(decide(s, answer(60007), 1.0).what, Do::finish);
  EXPECT_EQ(decide(s, failure(Failure::reset, true), 1.0).what, Do::finish);
}

}  // namespace
