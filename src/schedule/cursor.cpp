#include "groupwatch/schedule/cursor.hpp"

#include "groupwatch/schedule/plan.hpp"

namespace groupwatch::schedule {

using wall = std::chrono::system_clock;

wall::time_point Cursor::slot_time(std::uint64_t cycle, std::size_t index, std::size_t n,
                                   std::chrono::nanoseconds interval) {
  auto start = std::chrono::nanoseconds(interval.count() * static_cast<std::int64_t>(cycle));
  auto t = start + slot_offset(index, n, interval);
  return wall::time_point(std::chrono::duration_cast<wall::duration>(t));
}

void Cursor::position(wall::time_point now, std::size_t n, std::chrono::nanoseconds interval) {
  auto since = std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch());
  cycle_ = static_cast<std::uint64_t>(since / interval);
  cursor_ = first_slot_at_or_after(since % interval, n, interval);
}

Step Cursor::next(wall::time_point now, std::size_t n, std::chrono::nanoseconds interval) {
  Step s;
  if (n == 0) return s;
  if (cursor_ >= n) {
    s.kind = Step::Kind::cycle_done;
    s.cycle = cycle_;
    ++cycle_;
    cursor_ = 0;
    return s;
  }
  s.cycle = cycle_;
  s.index = cursor_;
  auto due = slot_time(cycle_, cursor_, n, interval);
  if (due > now) {
    s.kind = Step::Kind::wait;
    s.at = due;
    return s;
  }
  s.kind = Step::Kind::due;
  s.behind = now >= slot_time(cycle_ + 1, 0, n, interval);
  ++cursor_;
  return s;
}

}  // namespace groupwatch::schedule
