#include "groupwatch/limit/rate_limiter.hpp"
#include "support/window.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <functional>
#include <queue>
#include <random>

using namespace groupwatch::limit;
using namespace std::chrono_literals;

namespace {

using groupwatch::testing::max_in_window;

// Drives the limiter with a permanent backlog: every permit is taken the
// moment it becomes available.
std::vector<TimePoint> drain(RateLimiter& lim, TimePoint start, Duration for_how_long) {
  std::vector<TimePoint> sends;
  TimePoint now = start;
  while (now < start + for_how_long) {
    TimePoint t = lim.next_available(now);
    if (t > now) now = t;
    if (now >= start + for_how_long) break;
    lim.take(now);
    sends.push_back(now);
  }
  return sends;
}

}  // namespace

TEST(RateLimiter, BacklogStaysUnderCapInEverySlidingSecondWithJitter) {
  TimePoint t0{};
  LimiterOptions o;
  o.qps = 200;
  RateLimiter lim(o, t0);
  auto sends = drain(lim, t0, 30s);
  // Arrivals at the server lag the send by up to the margin.
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> jitter_us(0, 8000);
  std::vector<TimePoint> arrivals;
  for (auto s : sends) arrivals.push_back(s + std::chrono::microseconds(jitter_us(rng)));
  EXPECT_LE(max_in_window(arrivals, 1s), 200u);
  // And not leaving capacity on the table: >= 99% of the cap over 30 s.
  EXPECT_GE(sends.size(), static_cast<std::size_t>(0.99 * 200 * 30));
}

TEST(RateLimiter, DoesNotStartWithAFullSecondsBurst) {
  TimePoint t0{};
  RateLimiter lim({.qps = 200}, t0);
  std::size_t immediate = 0;
  while (lim.try_take(t0)) ++immediate;
  EXPECT_LE(immediate, 4u);  // burst is a small fraction of the cap, not 200
}

TEST(RateLimiter, IdleThenBurstStillUnderCap) {
  TimePoint t0{};
  RateLimiter lim({.qps = 50}, t0);
  // Idle for a minute, then a backlog arrives: the bucket must not have
  // accumulated a second's worth on top of the window.
  auto sends = drain(lim, t0 + 60s, 5s);
  EXPECT_LE(max_in_window(sends, 1s + 5ms), 50u);
  EXPECT_GE(sends.size(), static_cast<std::size_t>(0.98 * 50 * 5));
}

TEST(RateLimiter, SpreadsPermitsEvenly) {
  TimePoint t0{};
  RateLimiter lim({.qps = 100}, t0);
  auto sends = drain(lim, t0, 10s);
  // No 100 ms slice holds more than a fair share plus the small burst.
  EXPECT_LE(max_in_window(sends, 100ms), 10u + 3u);
}

// Three rate-limit answers within a second: a cap lower than configured.
bool three_answers(RateLimiter& lim, TimePoint at) {
  lim.on_rate_limited(at);
  lim.on_rate_limited(at + 10ms);
  return lim.on_rate_limited(at + 20ms);
}

TEST(RateLimiter, OneStrayRateLimitAnswerDoesNotLowerTheRate) {
  TimePoint t0{};
  RateLimiter lim({.qps = 200}, t0);
  EXPECT_FALSE(lim.on_rate_limited(t0 + 1s));
  EXPECT_FALSE(lim.on_rate_limited(t0 + 3s));
  EXPECT_FALSE(lim.on_rate_limited(t0 + 5s));  // three, but spread over four seconds
  EXPECT_DOUBLE_EQ(lim.effective_qps(), 200);
}

TEST(RateLimiter, RateLimitAnswersLowerAndThenRecover) {
  TimePoint t0{};
  RateLimiter lim({.qps = 100}, t0);
  EXPECT_TRUE(three_answers(lim, t0 + 1s));
  EXPECT_NEAR(lim.effective_qps(), 85, 0.1);
  // More answers within the hold do not lower it again.
  EXPECT_FALSE(three_answers(lim, t0 + 1s + 100ms));
  EXPECT_NEAR(lim.effective_qps(), 85, 0.5);  // only 100 ms of recovery
  EXPECT_TRUE(three_answers(lim, t0 + 2s + 500ms));
  EXPECT_NEAR(lim.effective_qps(), 89.5 * 0.85, 1.0);  // 1.5 s of recovery, then cut
  double low = lim.effective_qps();
  // Recovery is gradual: +3% of the cap per second.
  lim.next_available(t0 + 5s + 520ms);
  EXPECT_NEAR(lim.effective_qps(), low + 9, 0.5);
  lim.next_available(t0 + 200s);
  EXPECT_DOUBLE_EQ(lim.effective_qps(), 100);
}

TEST(RateLimiter, LoweredRateIsEnforced) {
  TimePoint t0{};
  LimiterOptions o;
  o.qps = 100;
  o.increase_per_second = 0;  // hold the lowered rate for the measurement
  RateLimiter lim(o, t0);
  three_answers(lim, t0);
  three_answers(lim, t0 + 2s);  // 72.25
  auto sends = drain(lim, t0 + 2s, 10s);
  EXPECT_LE(max_in_window(sends, 1s), 72u);
  EXPECT_GE(sends.size(), 700u);
}

TEST(RateLimiter, SetQpsShrinksTheWindow) {
  TimePoint t0{};
  RateLimiter lim({.qps = 200}, t0);
  drain(lim, t0, 2s);
  lim.set_qps(20, t0 + 2s);
  auto sends = drain(lim, t0 + 2s, 5s);
  EXPECT_LE(max_in_window(sends, 1s), 20u);
}

TEST(RateLimiter, FractionalQpsBelowOne) {
  TimePoint t0{};
  RateLimiter lim({.qps = 0.5}, t0);
  auto sends = drain(lim, t0, 20s);
  EXPECT_LE(sends.size(), 11u);
  EXPECT_GE(sends.size(), 9u);
}

// A permit's request counts from when its bytes leave: until sent() it is in
// every window, however long ago the permit was taken.
TEST(RateLimiter, PendingPermitsHoldTheWindowUntilSent) {
  TimePoint now{};
  RateLimiter lim({.qps = 5}, now);
  for (int i = 0; i < 5; ++i) {
    now = std::max(now, lim.next_available(now));
    lim.take_pending(now);
  }
  EXPECT_EQ(lim.pending(), 5u);
  now += 10s;  // five permits, none written yet
  EXPECT_GT(lim.next_available(now), now);
  EXPECT_TRUE(lim.sent(now));  // pending permits alone had filled the window
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(lim.sent(now));
  EXPECT_EQ(lim.pending(), 0u);
  // Written now: the window holds them for the next second and the margin.
  EXPECT_EQ(lim.next_available(now), now + 1s + lim.margin());
  EXPECT_EQ(lim.next_available(now + 1s + lim.margin()), now + 1s + lim.margin());
}

TEST(RateLimiter, ALateWriteCountsFromTheWrite) {
  const TimePoint t0{};
  RateLimiter lim({.qps = 5}, t0);
  lim.take_pending(t0);
  EXPECT_FALSE(lim.sent(t0 + 300ms));  // the process stalled between the permit and the write
  TimePoint now = t0 + 300ms;
  for (int i = 0; i < 4; ++i) {
    now = std::max(now, lim.next_available(now));
    lim.take(now);
  }
  EXPECT_GE(lim.next_available(now), t0 + 300ms + 1s + lim.margin());
}

// At full load, one write in twenty stalls up to 200 ms after its permit (a
// busy loop, a preempted process), far beyond the margin: the requests as
// they leave still hold the cap in every sliding second.
TEST(RateLimiter, BacklogStaysUnderCapWhenWritesLagTheirPermits) {
  const TimePoint t0{};
  RateLimiter lim({.qps = 200}, t0);
  std::mt19937 rng(3);
  std::uniform_int_distribution<int> lag_ms(0, 200);
  std::priority_queue<TimePoint, std::vector<TimePoint>, std::greater<>> writes;
  std::vector<TimePoint> left;
  TimePoint now = t0;
  const TimePoint end = t0 + 30s;
  while (now < end) {
    while (!writes.empty() && writes.top() <= now) {
      lim.sent(writes.top());
      left.push_back(writes.top());
      writes.pop();
    }
    const TimePoint t = lim.next_available(now);
    if (t > now) {
      now = writes.empty() ? t : std::min(t, writes.top());
      continue;
    }
    lim.take_pending(now);
    writes.push(now + (rng() % 20 == 0 ? std::chrono::milliseconds(lag_ms(rng)) : 0ms));
  }
  std::sort(left.begin(), left.end());
  EXPECT_LE(max_in_window(left, 1s), 200u);
  EXPECT_GE(left.size(), static_cast<std::size_t>(0.95 * 200 * 30)) << "the cap is held by giving up capacity";
}
