#pragma once
// Which slot is due now: the walk over one app's slot plan, cycle after
// cycle, as a pure function of (cursor, number of groups, interval, now).
// The poller asks it for the next step and does the I/O; tests drive it
// with made-up wall-clock times.
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace groupwatch::schedule {

struct Step {
  enum class Kind {
    due,         // slot `index` of `cycle` is due: dispatch it
    wait,        // nothing due before `at`
    cycle_done,  // every slot of `cycle` was dispatched; the cursor moved to the next cycle
    empty,       // no groups
  };
  Kind kind = Kind::empty;
  std::size_t index = 0;
  std::uint64_t cycle = 0;
  std::chrono::system_clock::time_point at{};
  bool behind = false;  // due: the next cycle has already begun (an overrun)
};

class Cursor {
 public:
  /// Puts the cursor at the first slot at or after `now` (start, reload,
  /// new interval): slots already past in this cycle are not caught up.
  void position(std::chrono::system_clock::time_point now, std::size_t n, std::chrono::nanoseconds interval);
  /// The next step at `now`. A `due` step advances the cursor.
  Step next(std::chrono::system_clock::time_point now, std::size_t n, std::chrono::nanoseconds interval);
  /// When slot `index` of `cycle` is due.
  static std::chrono::system_clock::time_point slot_time(std::uint64_t cycle, std::size_t index, std::size_t n,
                                                         std::chrono::nanoseconds interval);

  std::uint64_t cycle() const { return cycle_; }
  std::size_t position_in_cycle() const { return cursor_; }

 private:
  std::uint64_t cycle_ = 0;
  std::size_t cursor_ = 0;
};

}  // namespace groupwatch::schedule
