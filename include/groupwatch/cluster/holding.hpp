#pragma once
// Whether this instance may send for one SDKAppID now (cluster: mode): the
// one question the pollers, budgets and discovery ask before a request
// leaves. Without `cluster:` nothing holds one and everything may send.
#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

namespace groupwatch::cluster {

class Holding {
 public:
  using Clock = std::chrono::steady_clock;
  explicit Holding(std::uint64_t sdkappid) : sdkappid_(sdkappid) {}
  Holding(const Holding&) = delete;
  Holding& operator=(const Holding&) = delete;

  /// True while this instance holds the SDKAppID's key and its lease cannot
  /// have lapsed at etcd yet (the last renewal's send time + TTL - margin).
  bool may_send(Clock::time_point now) const { return held_ && now < until_; }
  bool may_send() const { return may_send(Clock::now()); }
  bool held() const { return held_; }
  std::uint64_t sdkappid() const { return sdkappid_; }
  /// Counts acquisitions: a poller that sees a new one starts at the current
  /// slot (the cycle goes on where the previous holder left it).
  std::uint64_t epoch() const { return epoch_; }
  /// `cb` runs whenever the holding changes (acquired, released, lost, or a
  /// renewal after sends had stopped). Removed by unwatch(owner).
  void watch(const void* owner, std::function<void()> cb) { watchers_.emplace_back(owner, std::move(cb)); }
  void unwatch(const void* owner) {
    std::erase_if(watchers_, [owner](const auto& w) { return w.first == owner; });
  }

  // The coordinator's side.
  void acquire(Clock::time_point until) {
    held_ = true;
    until_ = until;
    ++epoch_;
    changed();
  }
  void drop() {
    held_ = false;
    changed();
  }
  /// A renewal succeeded: sends may go on until `until`.
  void extend(Clock::time_point until) {
    const bool resumed = held_ && until_ <= Clock::now();
    until_ = until;
    if (resumed) changed();
  }

 private:
  void changed() {
    auto copy = watchers_;
    for (auto& w : copy) w.second();
  }
  std::uint64_t sdkappid_;
  bool held_ = false;
  Clock::time_point until_{};
  std::uint64_t epoch_ = 0;
  std::vector<std::pair<const void*, std::function<void()>>> watchers_;
};

}  // namespace groupwatch::cluster
