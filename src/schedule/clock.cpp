#include "groupwatch/schedule/clock.hpp"

namespace groupwatch::schedule {

ScheduleClock::Reading ScheduleClock::read(wall::time_point wall_now, steady::time_point steady_now) {
  auto anchor = [&] {
    anchor_wall_ = wall_now;
    anchor_steady_ = steady_now;
    anchored_ = true;
  };
  if (!anchored_) {
    anchor();
    return {wall_now, {}};
  }
  const auto sched = anchor_wall_ + std::chrono::duration_cast<wall::duration>(steady_now - anchor_steady_);
  const auto diff = std::chrono::duration_cast<std::chrono::nanoseconds>(wall_now - sched);  // > 0: wall ahead
  if (diff > threshold) {
    anchor();
    ahead_ = {};
    return {wall_now, diff};
  }
  if (diff < -threshold) {
    // Behind: keep the pace. Report the step once (and again only when the
    // wall clock moves by another threshold).
    const auto ahead = -diff;
    std::chrono::nanoseconds step{0};
    if (ahead - ahead_ > threshold || ahead_ - ahead > threshold) {
      step = ahead_ - ahead;
      ahead_ = ahead;
    }
    return {sched, step};
  }
  // Within the threshold: follow the wall clock (absorbs slewing).
  anchor();
  ahead_ = {};
  return {wall_now, {}};
}

}  // namespace groupwatch::schedule
