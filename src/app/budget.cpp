#include "app/budget.hpp"

#include <algorithm>
#include <cmath>

#include "groupwatch/tencent/request.hpp"

namespace groupwatch::app {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

tencent::Endpoint app_endpoint(const config::AppSettings& app) {
  std::string err;
  auto ep = tencent::parse_endpoint(app.endpoint, &err, /*allow_plain=*/true);
  if (!ep) throw std::runtime_error("app " + app.name + ": endpoint: " + err);
  return *std::move(ep);
}

void forget_secret(config::AppSettings& app) {
  std::fill(app.secret_key.begin(), app.secret_key.end(), '\0');
  app.secret_key.clear();
}

http::PoolOptions pool_options(const config::AppSettings& app, const config::PollConfig& poll) {
  const auto ep = app_endpoint(app);
  http::PoolOptions po;
  po.host = ep.host;
  po.port = ep.port;
  po.tls = ep.tls;
  po.verify = app.tls_verify;
  po.ca_file = app.ca_file;
  po.max_connections = static_cast<std::size_t>(std::max(1, poll.connections));
  po.timeout = poll.timeout;
  if (!app.proxy.empty()) {
    std::string err;
    auto px = tencent::parse_endpoint(app.proxy, &err, /*allow_plain=*/true);
    if (!px) throw std::runtime_error("app " + app.name + ": proxy: " + err);
    po.proxy_host = px->host;
    po.proxy_port = px->port;
  }
  return po;
}

namespace {
bool same_pool(const http::PoolOptions& a, const http::PoolOptions& b) {
  return a.host == b.host && a.port == b.port && a.tls == b.tls && a.verify == b.verify && a.ca_file == b.ca_file &&
         a.max_connections == b.max_connections && a.timeout == b.timeout && a.idle_timeout == b.idle_timeout &&
         a.max_body_bytes == b.max_body_bytes && a.proxy_host == b.proxy_host && a.proxy_port == b.proxy_port &&
         a.agent_note == b.agent_note;
}
}  // namespace

Budget::Budget(asio::io_context& io, double qps, http::PoolOptions po)
    : io_(io),
      limiter_(limit::LimiterOptions{.qps = qps}, steady::now()),
      pool_opts_(po),
      pool_(std::make_shared<http::Pool>(io.get_executor(), std::move(po))),
      timer_(io) {}

Budget::~Budget() {
  timer_.cancel();
}

limit::TimePoint Budget::next_time(limit::TimePoint now) {
  auto t = limiter_.next_available(now);
  if (global_) t = std::max(t, global_->next_available(now));
  return t;
}

void Budget::take(limit::TimePoint now) {
  limiter_.take_pending(now);
  if (global_) {
    global_->take_pending(now);
    ++global_pending_;
  }
  if (contenders_ > 0) --contenders_;
}

bool Budget::try_admit() {
  if (!queue_.empty()) return false;
  auto now = steady::now();
  if (next_time(now) > now) return false;
  take(now);
  notify();
  return true;
}

void Budget::enqueue(Waiter* w) {
  queue_.push_back(w);
  pump();
}

void Budget::dequeue(Waiter* w) {
  auto it = std::find(queue_.begin(), queue_.end(), w);
  if (it != queue_.end()) queue_.erase(it);
}

void Budget::set_global(std::shared_ptr<limit::RateLimiter> global) {
  if (global != global_) global_pending_ = 0;
  global_ = std::move(global);
}

void Budget::sent() {
  const auto now = steady::now();
  bool freed = limiter_.sent(now);
  // Only for permits taken there: a global cap added by a reload has none
  // of this budget's earlier ones.
  if (global_ && global_pending_ > 0) {
    freed = global_->sent(now) || freed;
    --global_pending_;
  }
  // Pending permits held the window shut: the queue may move sooner than
  // the timer said. Otherwise nothing changed for the queue.
  if (freed && !queue_.empty()) pump();
}

void Budget::pump() {
  bool admitted = false;
  while (!queue_.empty()) {
    auto now = steady::now();
    auto t = next_time(now);
    if (t > now) {
      arm(t);
      break;
    }
    take(now);
    Waiter* w = queue_.front();
    queue_.pop_front();
    w->admitted();
    admitted = true;
  }
  if (admitted) notify();
}

void Budget::arm(limit::TimePoint at) {
  if (armed_ && armed_at_ <= at) return;
  armed_ = true;
  armed_at_ = at;
  timer_.expires_at(at);
  timer_.async_wait([weak = weak_from_this(), at](boost::system::error_code) {
    auto self = weak.lock();
    if (!self) return;
    // A later arm() replaced this wait: that one pumps.
    if (!self->armed_ || self->armed_at_ != at) return;
    self->armed_ = false;
    self->pump();
  });
}

std::size_t Budget::lead() const {
  // Enough requests opening connections or queued that the rate is met when
  // connections open slowly, few enough that a request is not started long
  // before its permit (its connection would sit waiting).
  auto by_rate = static_cast<std::size_t>(std::ceil(limiter_.effective_qps() / 10.0));
  return std::clamp<std::size_t>(by_rate, 4, std::max<std::size_t>(4, pool_opts_.max_connections));
}

limit::TimePoint Budget::next_start(limit::TimePoint now) {
  const double rate = std::max(1.0, limiter_.effective_qps());
  const double depth = static_cast<double>(lead());
  if (start_refilled_ == limit::TimePoint{}) {
    start_tokens_ = depth;
    start_refilled_ = now;
  } else if (now > start_refilled_) {
    start_tokens_ =
        std::min(depth, start_tokens_ + std::chrono::duration<double>(now - start_refilled_).count() * rate);
    start_refilled_ = now;
  }
  if (start_tokens_ >= 1.0) return now;
  return now + std::chrono::duration_cast<limit::Duration>(std::chrono::duration<double>((1.0 - start_tokens_) / rate));
}

void Budget::contend() {
  ++contenders_;
  start_tokens_ -= 1.0;
}

void Budget::withdraw() {
  if (contenders_ > 0) --contenders_;
  notify();
}

void Budget::subscribe(const void* owner, std::function<void()> cb) {
  listeners_.emplace_back(owner, std::move(cb));
}

void Budget::unsubscribe(const void* owner) {
  std::erase_if(listeners_, [owner](const auto& l) { return l.first == owner; });
}

void Budget::notify() {
  // The dispatcher told first starts the next request: the first place
  // rotates so that apps sharing the budget (and a query beside them) take
  // turns instead of the first subscriber taking every turn.
  const std::size_t n = listeners_.size();
  if (n == 0) return;
  const std::size_t first = next_first_++ % n;
  for (std::size_t i = 0; i < n; ++i) listeners_[(first + i) % n].second();
}

void Budget::observe(std::chrono::nanoseconds x) {
  using namespace std::chrono_literals;
  const auto now = steady::now();
  while (!recent_max_.empty() && recent_max_.back().second <= x) recent_max_.pop_back();
  recent_max_.emplace_back(now, x);
  while (recent_max_.front().first < now - 2s) recent_max_.pop_front();
  while (!floor_min_.empty() && floor_min_.back().second >= x) floor_min_.pop_back();
  floor_min_.emplace_back(now, x);
  while (floor_min_.front().first < now - 10s) floor_min_.pop_front();
  const auto spread = recent_max_.front().second - floor_min_.front().second + 2ms;
  limiter_.set_margin(std::clamp<limit::Duration>(std::chrono::duration_cast<limit::Duration>(spread), 8ms, 50ms));
}

bool Budget::on_rate_limited() {
  return limiter_.on_rate_limited(steady::now());
}

bool Budget::update(double qps, const http::PoolOptions& po) {
  if (qps != limiter_.configured_qps()) limiter_.set_qps(qps, steady::now());
  if (same_pool(po, pool_opts_)) return false;
  pool_opts_ = po;
  // Requests under way keep the old pool alive until they finish.
  pool_ = std::make_shared<http::Pool>(io_.get_executor(), po);
  return true;
}

}  // namespace groupwatch::app
