#include "groupwatch/limit/rate_limiter.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>

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
  // Start with one permit, not a full bucket: a full bucket at start is how a
  // limiter reaches twice its cap in the first second.
  tokens_ = 1;
}

std::size_t RateLimiter::capacity() const {
  return std::max<std::size_t>(1, static_cast<std::size_t>(std::floor(opts_.qps)));
}

std::size_t RateLimiter::window_cap() const {
  return std::clamp<std::size_t>(static_cast<std::size_t>(std::floor(effective_)), 1, capacity());
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
  // Log: the window must not already hold window_cap requests. Pending ones
  // are in every window; of those sent, the oldest leave first.
  while (!sent_.empty() && sent_.front() + window() <= now) sent_.pop_front();
  const std::size_t cap = window_cap();
  const std::size_t held = pending_ + sent_.size();
  if (held >= cap) {
    const std::size_t leave = held - cap + 1;  // how many must leave the window
    // Pending permits alone fill it: sent() tells when one leaves; until
    // then look again a window later.
    TimePoint free_at = leave > sent_.size() ? now + window() : sent_[leave - 1] + window();
    if (free_at > t) t = free_at;
  }
  return t;
}

void RateLimiter::take(TimePoint now) {
  take_pending(now);
  sent(now);
}

void RateLimiter::take_pending(TimePoint now) {
  next_available(now);  // refresh the bucket and the log
  tokens_ -= 1.0;
  ++pending_;
  ++permits_;
}

bool RateLimiter::sent(TimePoint at) {
  if (pending_ == 0) return false;
  // A send time goes in at the back: the window's oldest entries, which
  // decide the next permit, stay as they were unless only pending permits
  // held it.
  const bool held_by_pending = pending_ >= window_cap();
  --pending_;
  record(at);
  return held_by_pending;
}

void RateLimiter::record(TimePoint at) {
  // Writes end nearly in order: the place is at or near the back.
  auto it = sent_.end();
  while (it != sent_.begin() && *std::prev(it) > at) --it;
  sent_.insert(it, at);
  // More than the cap of the newest never decides anything.
  while (sent_.size() > capacity()) sent_.pop_front();
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
  while (sent_.size() > capacity()) sent_.pop_front();  // the newest are the ones still inside the window
}

}  // namespace groupwatch::limit
