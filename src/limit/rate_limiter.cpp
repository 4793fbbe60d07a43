#include "groupwatch/limit/rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace groupwatch::limit {

namespace {
double seconds(Duration d) {
  return std::chrono::duration<double>(d).count();
}
Duration from_seconds(double s) {
  return std::chrono::duration_cast<Duration>(std::chrono::duration<double>(s));
}
}  // namespace

RateLimiter::RateLimiter(LimiterOptions opts, TimePoint now)
    : opts_(opts), effective_(opts.qps), tokens_(0), refilled_(now), last_recover_(now) {
  // The ring holds at most the configured cap; the effective cap never exceeds it.
  ring_.resize(std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(opts_.qps))));
  // Start with one permit, not a full bucket: a full bucket at start is how a
  // limiter reaches twice its cap in the first second.
  tokens_ = 1;
}

std::size_t RateLimiter::window_cap() const {
  return std::clamp<std::size_t>(static_cast<std::size_t>(std::floor(effective_)), 1, ring_.size());
}

void RateLimiter::recover(TimePoint now) {
  if (now <= last_recover_) return;
  double dt = seconds(now - last_recover_);
  last_recover_ = now;
  if (effective_ < opts_.qps) effective_ = std::min(opts_.qps, effective_ + dt * opts_.increase_per_second * opts_.qps);
}

TimePoint RateLimiter::next_available(TimePoint now) {
  recover(now);
  // Bucket: refill at effective / window so the long-run rate matches the log.
  double rate = std::min(effective_, static_cast<double>(window_cap())) / seconds(window());
  double depth = std::max(1.0, effective_ * opts_.burst_fraction);
  if (now > refilled_) {
    tokens_ = std::min(depth, tokens_ + seconds(now - refilled_) * rate);
    refilled_ = now;
  }
  TimePoint t = now;
  if (tokens_ < 1.0) t = now + from_seconds((1.0 - tokens_) / rate);
  // Log: the window must not already hold window_cap permits.
  std::size_t cap = window_cap();
  if (count_ >= cap) {
    // The (count_ - cap + 1)-th oldest entry must leave the window.
    std::size_t idx = (head_ + (count_ - cap)) % ring_.size();
    TimePoint free_at = ring_[idx] + window();
    if (free_at > t) t = free_at;
  }
  return t;
}

void RateLimiter::take(TimePoint now) {
  next_available(now);  // refresh the bucket
  tokens_ -= 1.0;
  std::size_t cap = window_cap();
  // Drop entries beyond what the cap needs to remember.
  while (count_ >= cap) {
    head_ = (head_ + 1) % ring_.size();
    --count_;
  }
  ring_[(head_ + count_) % ring_.size()] = now;
  ++count_;
  ++permits_;
}

bool RateLimiter::try_take(TimePoint now) {
  if (next_available(now) > now) return false;
  take(now);
  return true;
}

bool RateLimiter::on_rate_limited(TimePoint now) {
  recover(now);
  // One stray answer is arrival jitter at the server (a request that came a
  // few ms late and shared its second with the next ones): the group is
  // retried and the rate stays. A cap lower than configured shows up as a
  // run of answers, and only that lowers the rate.
  limited_[limited_next_] = now;
  limited_next_ = (limited_next_ + 1) % limited_.size();
  if (limited_seen_ < limited_.size()) ++limited_seen_;
  TimePoint oldest = limited_[limited_next_];  // the oldest of the last N answers
  if (limited_seen_ < limited_.size() || now - oldest > std::chrono::seconds(1)) return false;
  if (last_decrease_ != TimePoint{} && now - last_decrease_ < opts_.decrease_hold) return false;
  last_decrease_ = now;
  effective_ = std::max(opts_.min_qps, effective_ * opts_.decrease_factor);
  tokens_ = std::min(tokens_, 1.0);
  return true;
}

void RateLimiter::set_qps(double qps, TimePoint now) {
  recover(now);
  opts_.qps = qps;
  effective_ = std::min(effective_, qps);
  std::size_t cap = std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(qps)));
  if (cap != ring_.size()) {
    // Keep the newest entries (they are the ones still inside the window).
    std::vector<TimePoint> next(cap);
    std::size_t keep = std::min(count_, cap);
    for (std::size_t i = 0; i < keep; ++i) next[i] = ring_[(head_ + count_ - keep + i) % ring_.size()];
    ring_ = std::move(next);
    head_ = 0;
    count_ = keep;
  }
}

}  // namespace groupwatch::limit
