#include "groupwatch/schedule/plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>

using namespace groupwatch::schedule;
using namespace std::chrono_literals;

namespace {
std::vector<std::string> ids(std::size_t n, std::size_t from = 0) {
  std::vector<std::string> v;
  for (std::size_t i = from; i < from + n; ++i) v.push_back("@TGS#_@TGS#GROUP" + std::to_string(i));
  return v;
}
}  // namespace

TEST(Plan, HashIsStable) {
  // A fixed value: a changed hash would move every group's phase after an upgrade.
  EXPECT_EQ(stable_hash("@TGS#_@TGS#cQVLVHIM62CJ"), stable_hash("@TGS#_@TGS#cQVLVHIM62CJ"));
  EXPECT_NE(stable_hash("@TGS#_@TGS#A"), stable_hash("@TGS#_@TGS#B"));
}

TEST(Plan, SlotsAreEvenlySpread) {
  auto v = ids(700);
  sort_by_slot(v);
  std::map<long, int> per_second;
  for (std::size_t k = 0; k < v.size(); ++k) per_second[slot_offset(k, v.size(), 10s) / 1s]++;
  ASSERT_EQ(per_second.size(), 10u);
  for (auto& [sec, n] : per_second) EXPECT_EQ(n, 70) << "second " << sec;
}

TEST(Plan, SimilarIdsDoNotClusterInHashOrder) {
  // Sequential IDs must land all over the cycle, not in one corner.
  auto v = ids(1000);
  std::vector<std::string> sorted = v;
  sort_by_slot(sorted);
  std::size_t first_half = 0;
  for (std::size_t i = 0; i < 500; ++i)
    if (std::find(sorted.begin(), sorted.begin() + 500, v[i]) != sorted.begin() + 500) ++first_half;
  EXPECT_GT(first_half, 200u);
  EXPECT_LT(first_half, 300u);
}

TEST(Plan, AddingAGroupBarelyMovesTheOthers) {
  auto v = ids(1000);
  auto before = v;
  sort_by_slot(before);
  auto after = v;
  after.push_back("@TGS#_@TGS#NEWCOMER");
  sort_by_slot(after);
  std::map<std::string, std::size_t> pos_before;
  for (std::size_t i = 0; i < before.size(); ++i) pos_before[before[i]] = i;
  for (std::size_t i = 0; i < after.size(); ++i) {
    if (after[i] == "@TGS#_@TGS#NEWCOMER") continue;
    auto old_off = slot_offset(pos_before[after[i]], before.size(), 240s);
    auto new_off = slot_offset(i, after.size(), 240s);
    EXPECT_LE(std::chrono::abs(new_off - old_off), 500ms) << after[i];
  }
}

TEST(Plan, CycleStartAlignsToWallClock) {
  auto t = std::chrono::system_clock::time_point(std::chrono::seconds(1000000) + 37s + 250ms);
  auto s = cycle_start(t, 240s);
  EXPECT_EQ(s.time_since_epoch() % 240s, std::chrono::system_clock::duration::zero());
  EXPECT_LE(s, t);
  EXPECT_GT(s + 240s, t);
}

TEST(Plan, FirstSlotAtOrAfter) {
  EXPECT_EQ(first_slot_at_or_after(0s, 10, 10s), 0u);
  EXPECT_EQ(first_slot_at_or_after(3s, 10, 10s), 3u);
  EXPECT_EQ(first_slot_at_or_after(3500ms, 10, 10s), 4u);
  EXPECT_EQ(first_slot_at_or_after(10s, 10, 10s), 10u);
  EXPECT_EQ(first_slot_at_or_after(1ns, 3, 10s), 1u);
}

TEST(Plan, SlotOffsetDoesNotOverflowForHugeLists) {
  auto off = slot_offset(999999, 1000000, 240s);
  EXPECT_LT(off, 240s);
  EXPECT_GT(off, 239s);
}
