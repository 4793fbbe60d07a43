#pragma once
// One budget per SDKAppID and endpoint: the limiter that every request for it
// passes right before its bytes are written, and the pool they travel on.
// Shared by every `apps` entry that names the SDKAppID and endpoint, and kept
// across reloads, so a lowered rate and warm connections survive a SIGHUP.
// Private to the app stage.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "groupwatch/cluster/holding.hpp"
#include "groupwatch/config/config.hpp"
#include "groupwatch/http/pool.hpp"
#include "groupwatch/limit/rate_limiter.hpp"
#include "groupwatch/tencent/request.hpp"

namespace groupwatch::app {

/// The key that decides which apps entries share a budget.
using config::budget_key;

/// The pool settings of an app under a poll config.
http::PoolOptions pool_options(const config::AppSettings& app, const config::PollConfig& poll);

/// The app's endpoint; throws "app NAME: endpoint: WHY" (check refuses such
/// a config before it gets here).
tencent::Endpoint app_endpoint(const config::AppSettings& app);

/// Wipes the app's secret key: a poller or discoverer keeps it only in its
/// signature cache.
void forget_secret(config::AppSettings& app);

class Budget final : public http::Gate, public std::enable_shared_from_this<Budget> {
 public:
  Budget(boost::asio::io_context& io, double qps, http::PoolOptions po);
  ~Budget() override;
  Budget(const Budget&) = delete;
  Budget& operator=(const Budget&) = delete;

  // http::Gate: a permit from this SDKAppID's limiter (and the global cap).
  bool try_admit() override;
  void enqueue(Waiter* w) override;
  void dequeue(Waiter* w) override;
  /// A permitted request was written: the window counts it from now on
  /// (until then it counted in every window).
  void sent() override;
  /// False while a cluster instance does not hold this SDKAppID (or its
  /// lease may have lapsed): the request ends unsent.
  bool may_write() override { return !holding_ || holding_->may_send(); }
  void set_holding(std::shared_ptr<cluster::Holding> h) { holding_ = std::move(h); }
  const std::shared_ptr<cluster::Holding>& holding() const { return holding_; }

  /// The pool requests go on now; a reload with new connection settings
  /// replaces it (requests under way finish on the old one).
  std::shared_ptr<http::Pool> pool() const { return pool_; }
  /// Applies a reload: the cap (a lowered effective rate is kept while it is
  /// under the new cap), the pool settings (a new pool only when they
  /// changed), the global cap. Returns true when the pool was replaced.
  bool update(double qps, const http::PoolOptions& po);
  void set_global(std::shared_ptr<limit::RateLimiter> global);

  /// Requests started that have not been admitted yet (opening a connection
  /// or queued). Dispatchers start a request only while this is below lead().
  std::size_t contenders() const { return contenders_; }
  std::size_t lead() const;
  /// Starting a request also draws from a bucket refilled at the effective
  /// rate: when requests fail before their permit (connection refused, TLS
  /// failing) they must not turn into a storm of connection attempts.
  /// Returns the time the next start may happen (<= now: take it with contend()).
  limit::TimePoint next_start(limit::TimePoint now);
  void contend();
  /// A started request ended without being admitted.
  void withdraw();

  /// `cb` runs after every admission and withdrawal (a dispatcher waiting
  /// for room wakes up). Removed by unsubscribe(owner).
  void subscribe(const void* owner, std::function<void()> cb);
  void unsubscribe(const void* owner);

  /// An answer came `since_sent` after its request was written: the spread
  /// of these times (recent worst minus the floor) is how far arrivals at
  /// the server can shift against the writes, and sets the limiter's margin
  /// (8 ms to 50 ms): the cap holds when the network or the server stalls.
  void observe(std::chrono::nanoseconds since_sent);
  limit::Duration margin() const { return limiter_.margin(); }

  /// A rate-limit answer arrived; true when the rate was lowered.
  bool on_rate_limited();
  double configured_qps() const { return limiter_.configured_qps(); }
  double effective_qps() const { return limiter_.effective_qps(); }
  std::uint64_t permits() const { return limiter_.permits(); }
  std::size_t queued() const { return queue_.size(); }

 private:
  limit::TimePoint next_time(limit::TimePoint now);
  void take(limit::TimePoint now);
  void pump();
  void arm(limit::TimePoint at);
  void notify();

  boost::asio::io_context& io_;
  limit::RateLimiter limiter_;
  std::shared_ptr<limit::RateLimiter> global_;
  std::shared_ptr<cluster::Holding> holding_;
  std::size_t global_pending_ = 0;  // this budget's permits pending at global_
  http::PoolOptions pool_opts_;
  std::shared_ptr<http::Pool> pool_;
  std::deque<Waiter*> queue_;
  boost::asio::steady_timer timer_;
  bool armed_ = false;
  limit::TimePoint armed_at_{};
  std::size_t contenders_ = 0;
  double start_tokens_ = 1;
  limit::TimePoint start_refilled_{};
  std::vector<std::pair<const void*, std::function<void()>>> listeners_;
  std::size_t next_first_ = 0;
  // Monotonic deques of (time, exchange): the max over the last 2 s, the min
  // over the last 10 s.
  std::deque<std::pair<limit::TimePoint, std::chrono::nanoseconds>> recent_max_, floor_min_;
};

}  // namespace groupwatch::app
