// The walk over a slot plan, driven with made-up wall-clock times: no
// sleeps, no clock.
#include "groupwatch/schedule/cursor.hpp"

#include <gtest/gtest.h>

namespace {

using groupwatch::schedule::Cursor;
using groupwatch::schedule::Step;
using Kind = Step::Kind;
using wall = std::chrono::system_clock;
using namespace std::chrono_literals;

constexpr std::chrono::nanoseconds kInterval = 10s;
const wall::time_point kCycle100 = wall::time_point(std::chrono::duration_cast<wall::duration>(kInterval * 100));

TEST(Cursor, WalksTheSlotsOfOneCycleAtTheirTimes) {
  Cursor c;
  c.position(kCycle100, 10, kInterval);
  EXPECT_EQ(c.cycle(), 100u);
  auto s = c.next(kCycle100, 10, kInterval);
  ASSERT_EQ(s.kind, Kind::due);
  EXPECT_EQ(s.index, 0u);
  EXPECT_FALSE(s.behind);
  s = c.next(kCycle100 + 500ms, 10, kInterval);
  ASSERT_EQ(s.kind, Kind::wait);
  EXPECT_EQ(s.at, kCycle100 + 1s);  // slot 1 of 10 in a 10 s cycle
  s = c.next(kCycle100 + 1s, 10, kInterval);
  ASSERT_EQ(s.kind, Kind::due);
  EXPECT_EQ(s.index, 1u);
}

TEST(Cursor, APositionInsideTheCycleSkipsThePastSlots) {
  Cursor c;
  c.position(kCycle100 + 3500ms, 10, kInterval);
  auto s = c.next(kCycle100 + 3500ms, 10, kInterval);
  ASSERT_EQ(s.kind, Kind::wait);
  EXPECT_EQ(s.at, kCycle100 + 4s);
  EXPECT_EQ(c.next(kCycle100 + 4s, 10, kInterval).index, 4u);
}

TEST(Cursor, TheCycleEndsThenTheNextBeginsAtItsFirstSlot) {
  Cursor c;
  c.position(kCycle100 + 9500ms, 10, kInterval);
  auto s = c.next(kCycle100 + 9500ms, 10, kInterval);
  ASSERT_EQ(s.kind, Kind::cycle_done);  // no slot left at or after 9.5 s
  EXPECT_EQ(s.cycle, 100u);
  EXPECT_EQ(c.cycle(), 101u);
  s = c.next(kCycle100 + 9600ms, 10, kInterval);
  ASSERT_EQ(s.kind, Kind::wait);
  EXPECT_EQ(s.at, kCycle100 + 10s);
}

TEST(Cursor, BehindByACycleIsAnOverrunAndSlotsAreStillGivenInOrder) {
  Cursor c;
  c.position(kCycle100, 10, kInterval);
  // Nothing dispatched for 12 s: every slot of cycle 100 is due, behind.
  for (std::size_t i = 0; i < 10; ++i) {
    auto s = c.next(kCycle100 + 12s, 10, kInterval);
    ASSERT_EQ(s.kind, Kind::due);
    EXPECT_EQ(s.index, i);
    EXPECT_EQ(s.cycle, 100u);
    EXPECT_TRUE(s.behind);
  }
  EXPECT_EQ(c.next(kCycle100 + 12s, 10, kInterval).kind, Kind::cycle_done);
  auto s = c.next(kCycle100 + 12s, 10, kInterval);
  EXPECT_EQ(s.cycle, 101u);
  EXPECT_FALSE(s.behind);
}

TEST(Cursor, NoGroupsIsEmpty) {
  Cursor c;
  c.position(kCycle100, 0, kInterval);
  EXPECT_EQ(c.next(kCycle100, 0, kInterval).kind, Kind::empty);
}

}  // namespace
