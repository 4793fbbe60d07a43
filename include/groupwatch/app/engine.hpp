#pragma once
// The polling engine: per app a dispatcher that walks the slot plan, takes a
// limiter permit right before each send, keeps at most `connections`
// requests in flight, retries within the cycle and hands exactly one result
// per group and cycle to the output. Everything runs on one io_context.
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "groupwatch/config/config.hpp"
#include "groupwatch/delivery/result.hpp"

namespace groupwatch::app {

/// Where results go (the sink fan-out in production, a recorder in tests).
class ResultOut {
 public:
  virtual ~ResultOut() = default;
  virtual void push(delivery::Result&& r) = 0;
  /// The group was parked: its series should disappear where that matters.
  virtual void forget(const std::string& /*app*/, const std::string& /*group_id*/) {}
};

enum class Mode { run, once };

/// Per-app counters, read by the admin endpoint and by `once`'s progress line.
struct AppMetrics {
  std::string name;
  std::uint64_t sdkappid = 0;
  double qps_cap = 0;
  double qps_effective = 0;
  std::size_t groups = 0;
  std::size_t parked = 0;
  std::uint64_t cycle = 0;           // current cycle number (wall-clock aligned)
  std::size_t cycle_dispatched = 0;  // groups started in the current cycle
  std::uint64_t overruns = 0;
  std::uint64_t requests = 0;  // attempts sent (each took a permit)
  std::uint64_t results = 0;   // final results emitted
  std::uint64_t results_ok = 0;
  std::uint64_t retries = 0;
  std::uint64_t rate_limited = 0;   // rate-limit answers
  std::uint64_t limiter_waits = 0;  // times the dispatcher waited for a permit
  std::uint64_t usersig_renewals = 0;
  std::map<std::int64_t, std::uint64_t> answers_by_code;  // -1 = network failure
  std::map<std::string, std::uint64_t> failures_by_kind;  // timeout, reset, tls, http_502...
  std::vector<std::uint64_t> latency_buckets;             // counts per latency_bounds_ms (+Inf last)
  double latency_sum_s = 0;
  std::uint64_t connections_opened = 0;
  std::uint64_t handshakes = 0;
  std::size_t connections_open = 0;
  std::size_t in_flight = 0;
  bool stopped = false;
  std::string stop_reason;
  bool paused = false;
  bool clustered = false;           // cluster: set; polls only while held
  bool held = true;                 // cluster: this instance may send for the app now
  std::uint64_t clock_steps = 0;    // wall-clock steps seen
  std::uint64_t slots_skipped = 0;  // slots skipped after steps forward
  double idle_s = 0;                // run: since the last request was started
  double slot_spacing_s = 0;        // run: interval / groups
  // Age of each active group's newest OK count (since it joined, before its
  // first), across the app's groups: median, 99th percentile, oldest.
  // Filled only when asked for (Engine::metrics(Freshness::compute)).
  double fresh_p50_s = 0, fresh_p99_s = 0, fresh_max_s = 0;
  // Discovery (apps with discover:): groups it found and the poller watches,
  // listings that completed and that failed, when the last one completed.
  std::size_t discovered = 0;
  std::uint64_t listings_ok = 0, listings_failed = 0;
  double last_listing_unix = 0;
};
enum class Freshness { skip, compute };
inline constexpr double latency_bounds_ms[] = {5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000};

class Discoverer;

}  // namespace groupwatch::app
namespace groupwatch::cluster {
class Coordinator;
}  // namespace groupwatch::cluster
namespace groupwatch::app {

class Engine {
 public:
  /// With `cluster`, each SDKAppID is polled only while `cluster` holds it.
  Engine(boost::asio::io_context& io, const config::Config& cfg, ResultOut& out, Mode mode,
         cluster::Coordinator* cluster = nullptr);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  /// Starts every app's dispatcher.
  void start();
  /// Applies a new config (SIGHUP): added groups get a slot, removed ones
  /// stop, unchanged ones keep theirs; apps whose credentials or endpoint
  /// changed are restarted. The caller has validated `cfg`.
  struct ReloadSummary {
    std::size_t kept = 0, started = 0, restarted = 0, removed = 0, pools_replaced = 0;
  };
  /// Applies a new config in place (see engine.cpp); the caller logs it.
  ReloadSummary reload(const config::Config& cfg);
  /// Stops scheduling; in-flight requests may finish until `grace` passes,
  /// then they are cancelled. `done` is called on the io_context once
  /// nothing is in flight any more.
  void stop(std::chrono::milliseconds grace, std::function<void()> done);

  /// once mode: true when every app has finished (all groups answered or the app stopped).
  bool finished() const;
  /// once mode: groups that got no final answer (network failure or app stopped).
  std::size_t unanswered() const;
  std::size_t total_groups() const;
  /// Per app. The freshness figures (fresh_*_s) walk every group: only the
  /// pages that show them ask for them (Freshness::compute), not the
  /// progress line, the sampler or /readyz.
  std::vector<AppMetrics> metrics(Freshness freshness = Freshness::skip) const;
  /// Called when every app is finished (once mode).
  void on_finished(std::function<void()> cb);

  /// Polls `groups` once through the running budget (limiter and pool) of
  /// the SDKAppID and endpoint `key` (see budget_key), with this engine's
  /// credentials for it: how `query` and `once` beside a running daemon stay
  /// inside its cap. `done` gets one result per group. False (and `done` is
  /// not called) when no app polls that key or the engine is stopping.
  bool ask(const std::string& key, std::vector<std::string> groups,
           std::function<void(std::vector<delivery::Result>)> done);
  /// Lists every group of the SDKAppID and endpoint `key` with its type and
  /// name through this engine's discovery limiters (the list command's 1
  /// call a second is per SDKAppID): how `discover` beside a running daemon
  /// stays inside it. False (and `done` is not called) as for ask().
  struct ListedGroup {
    std::string id, type, name;
  };
  bool list_groups(const std::string& key,
                   std::function<void(bool ok, std::string error, std::vector<ListedGroup> groups)> done);

 private:
  struct Impl;
  boost::asio::awaitable<void> listing_for(std::shared_ptr<Discoverer> d,
                                           std::function<void(bool, std::string, std::vector<ListedGroup>)> done);
  std::unique_ptr<Impl> impl_;
};

}  // namespace groupwatch::app
