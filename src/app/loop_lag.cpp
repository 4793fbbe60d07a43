#include "app/loop_lag.hpp"

#include <algorithm>

namespace groupwatch::app {

void LagWindow::add(std::chrono::nanoseconds lag) {
  if (ring_.empty()) return;
  ring_[next_] = std::max(lag, std::chrono::nanoseconds(0));
  next_ = (next_ + 1) % ring_.size();
  count_ = std::min(count_ + 1, ring_.size());
}

LagStats LagWindow::stats() const {
  LagStats s;
  s.samples = count_;
  if (count_ == 0) return s;
  std::vector<std::chrono::nanoseconds> v(ring_.begin(), ring_.begin() + static_cast<std::ptrdiff_t>(count_));
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    auto i = static_cast<std::size_t>(q * static_cast<double>(v.size() - 1) + 0.5);
    return std::chrono::duration<double>(v[std::min(i, v.size() - 1)]).count();
  };
  s.p50_s = at(0.50);
  s.p99_s = at(0.99);
  s.max_s = std::chrono::duration<double>(v.back()).count();
  return s;
}

LoopLag::LoopLag(boost::asio::io_context& io, std::chrono::milliseconds every, std::chrono::seconds window)
    : timer_(io),
      every_(every),
      window_(
          static_cast<std::size_t>(std::chrono::milliseconds(window) / std::max(every, std::chrono::milliseconds(1)))) {
}

LoopLag::~LoopLag() {
  stop();
}

void LoopLag::start() {
  due_ = std::chrono::steady_clock::now() + every_;
  arm();
}

void LoopLag::stop() {
  *alive_ = false;
  timer_.cancel();
}

void LoopLag::arm() {
  timer_.expires_at(due_);
  timer_.async_wait([this, alive = alive_](boost::system::error_code ec) {
    if (ec || !*alive) return;
    auto now = std::chrono::steady_clock::now();
    window_.add(now - due_);
    due_ = now + every_;
    arm();
  });
}

}  // namespace groupwatch::app
