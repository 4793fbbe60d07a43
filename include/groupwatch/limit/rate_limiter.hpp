#pragma once
// The per-app (and optional global) request limiter. Pure logic on an
// injected monotonic clock: the engine asks when the next request may go,
// waits on a timer, then takes the permit right before the send.
//
// Why two mechanisms: the vendor counts requests per SDKAppID over a sliding
// 1 s window. A plain token bucket can only promise burst + rate x (1 s +
// jitter) per window, so to stay under the cap it must give up capacity. A
// sliding-window log promises exactly: at most `cap` permits in any window of
// 1 s + margin, where the margin covers the time from taking a permit to the
// request arriving. The log alone would allow the whole second's budget in one
// burst, so a token bucket with a small burst spreads the permits evenly.
// Sustained rate with a backlog: cap / (1 s + margin), 99.2% of cap at 8 ms.
// The margin starts at 8 ms; app::Budget sets it from the measured spread of
// sent-to-answer times (8 to 50 ms).
//
// The log holds the times the bytes left, not the times of the permits: a
// permit taken with take_pending() counts in every window until sent() says
// when its request was written, so a stall between the permit and the write
// (a busy loop, a preempted process) cannot squeeze two seconds' requests
// into one at the server.
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>

namespace groupwatch::limit {

using Clock = std::chrono::steady_clock;
using TimePoint = Clock::time_point;
using Duration = Clock::duration;

struct LimiterOptions {
  double qps = 200;                                // configured cap
  Duration margin = std::chrono::milliseconds(8);  // jitter allowance
  double burst_fraction = 0.02;                    // bucket depth as a fraction of qps (>= 1 permit)
  // AIMD on rate-limit answers:
  double decrease_factor = 0.85;                     // multiplicative decrease
  Duration decrease_hold = std::chrono::seconds(1);  // at most one decrease per hold
  double increase_per_second = 0.03;                 // additive recovery, fraction of qps per second
  double min_qps = 1;
};

class RateLimiter {
 public:
  explicit RateLimiter(LimiterOptions opts, TimePoint now);

  /// The earliest time a permit may be taken (<= now when one is available).
  TimePoint next_available(TimePoint now);
  /// Takes a permit for a request written at once.
  /// Precondition: next_available(now) <= now.
  void take(TimePoint now);
  /// Takes a permit for a request written later: it counts in every window
  /// until sent() (the window cannot know yet when its bytes leave).
  void take_pending(TimePoint now);
  /// A pending permit's request was written at `at`: it counts in the
  /// windows that hold `at`. Without a pending permit it does nothing.
  /// Returns true when pending permits alone had filled the window: only
  /// then can the next permit come sooner than next_available() said.
  bool sent(TimePoint at);
  std::size_t pending() const { return pending_; }
  /// Convenience: takes and returns true when available now.
  bool try_take(TimePoint now);

  /// A rate-limit answer arrived: lower the effective rate when it is the
  /// third within a second (at most once per hold).
  /// Returns true when the rate was lowered.
  bool on_rate_limited(TimePoint now);
  /// The effective rate in permits per second (<= qps).
  double effective_qps() const { return effective_; }
  double configured_qps() const { return opts_.qps; }
  /// A new configured cap (reload). The effective rate is clamped to it.
  void set_qps(double qps, TimePoint now);
  /// The allowance for permit-to-arrival jitter (measured by the caller);
  /// a larger one takes effect at once for the permits still to come.
  void set_margin(Duration margin) { opts_.margin = margin; }
  Duration margin() const { return opts_.margin; }

  std::uint64_t permits() const { return permits_; }

 private:
  void recover(TimePoint now);
  std::size_t window_cap() const;
  Duration window() const { return std::chrono::seconds(1) + opts_.margin; }

  LimiterOptions opts_;
  double effective_;
  // token bucket
  double tokens_;
  TimePoint refilled_;
  void record(TimePoint at);
  std::size_t capacity() const;
  // sliding-window log: the send times that may still matter (at most the
  // configured cap, oldest first) and the permits not written yet
  std::deque<TimePoint> sent_;
  std::size_t pending_ = 0;
  TimePoint last_decrease_{};
  std::array<TimePoint, 3> limited_{};  // the last rate-limit answers (a ring)
  std::size_t limited_next_ = 0;
  std::size_t limited_seen_ = 0;
  TimePoint last_recover_;
  std::uint64_t permits_ = 0;
};

}  // namespace groupwatch::limit
