#pragma once
// The time the slot plan runs on: the wall clock, carried forward by the
// monotonic clock, so that a step of the wall clock (NTP, a VM resume, an
// operator's `date -s`) neither stops polling nor floods it:
// - a step forward re-anchors the schedule to the wall clock at once (the
//   poller skips the slots in between instead of catching them up);
// - a step back is not followed: the schedule keeps its pace and runs ahead
//   of the wall clock (no group is polled twice within an interval, and
//   nothing waits for the wall clock to come back);
// - small drifts (below the threshold) are absorbed as they come.
// Pure: the caller passes both clocks' readings.
#include <chrono>

namespace groupwatch::schedule {

class ScheduleClock {
 public:
  using wall = std::chrono::system_clock;
  using steady = std::chrono::steady_clock;
  static constexpr std::chrono::seconds threshold{2};

  struct Reading {
    wall::time_point now;              // the time to schedule by
    std::chrono::nanoseconds step{0};  // a step seen at this reading: > 0 forward (re-anchored), < 0 back
  };
  Reading read(wall::time_point wall_now, steady::time_point steady_now);
  /// How far the schedule runs ahead of the wall clock after steps back.
  std::chrono::nanoseconds ahead() const { return ahead_; }

 private:
  bool anchored_ = false;
  wall::time_point anchor_wall_{};
  steady::time_point anchor_steady_{};
  std::chrono::nanoseconds ahead_{0};
};

}  // namespace groupwatch::schedule
