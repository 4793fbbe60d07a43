#include "groupwatch/schedule/clock.hpp"

#include <gtest/gtest.h>

namespace {

using groupwatch::schedule::ScheduleClock;
using namespace std::chrono_literals;
using wall = std::chrono::system_clock;
using steady = std::chrono::steady_clock;

struct Clocks {
  wall::time_point w = wall::time_point(1'700'000'000s);
  steady::time_point s = steady::time_point(1000s);
  void pass(std::chrono::milliseconds d) {
    w += d;
    s += d;
  }
};

TEST(ScheduleClock, FollowsTheWallClockWhileItRunsWithTheMonotonicOne) {
  ScheduleClock c;
  Clocks k;
  EXPECT_EQ(c.read(k.w, k.s).now, k.w);
  k.pass(1500ms);
  auto r = c.read(k.w, k.s);
  EXPECT_EQ(r.now, k.w);
  EXPECT_EQ(r.step, 0ns);
  k.w += 500ms;  // slewing: absorbed
  EXPECT_EQ(c.read(k.w, k.s).now, k.w);
}

TEST(ScheduleClock, AStepForwardReanchorsAtOnce) {
  ScheduleClock c;
  Clocks k;
  c.read(k.w, k.s);
  k.pass(1s);
  k.w += 1h;
  auto r = c.read(k.w, k.s);
  EXPECT_EQ(r.now, k.w);
  EXPECT_EQ(r.step, std::chrono::nanoseconds(1h));
  k.pass(1s);
  EXPECT_EQ(c.read(k.w, k.s).step, 0ns);
}

// The issue: "clock back 90 s -> 0 requests for ~88 s". The schedule keeps
// its pace: its time goes on from where it was, never backwards.
TEST(ScheduleClock, AStepBackIsNotFollowed) {
  ScheduleClock c;
  Clocks k;
  c.read(k.w, k.s);
  k.pass(10s);
  const auto before = c.read(k.w, k.s).now;
  k.w -= 90s;
  k.pass(100ms);
  auto r = c.read(k.w, k.s);
  EXPECT_EQ(r.now, before + 100ms);
  EXPECT_EQ(r.step, -std::chrono::nanoseconds(90s));
  EXPECT_EQ(c.ahead(), std::chrono::nanoseconds(90s));
  k.pass(5s);
  r = c.read(k.w, k.s);
  EXPECT_EQ(r.now, before + 5100ms);
  EXPECT_EQ(r.step, 0ns);  // reported once
  // NTP sets it right again: back on the wall clock, no step reported as a skip.
  k.w += 90s;
  r = c.read(k.w, k.s);
  EXPECT_EQ(r.now, k.w);
  EXPECT_EQ(c.ahead(), 0ns);
}

}  // namespace
