#pragma once
// One app's polling: slot plan, dispatcher, attempts, retries, parking.
// Private to the app stage.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "app/budget.hpp"
#include "app/policy.hpp"
#include "groupwatch/app/engine.hpp"
#include "groupwatch/config/config.hpp"
#include "groupwatch/http/pool.hpp"
#include "groupwatch/limit/rate_limiter.hpp"
#include "groupwatch/schedule/clock.hpp"
#include "groupwatch/schedule/cursor.hpp"
#include "groupwatch/tencent/errors.hpp"
#include "groupwatch/tencent/request.hpp"

namespace groupwatch::app {

/// Unix seconds now: the clock UserSigs are signed with.
std::int64_t unix_now();

/// A UserSig per app, renewed at half its lifetime so one is never sent
/// close to expiry.
class UserSigCache {
 public:
  UserSigCache(std::string key, std::uint64_t sdkappid, std::string admin, std::int64_t ttl_s);
  const std::string& get(std::int64_t now_unix);
  /// Forces a new signature (70001, bad signature answers).
  void renew(std::int64_t now_unix);
  std::uint64_t renewals() const { return renewals_; }
  std::int64_t created() const { return created_; }
  /// True when this cache signs with these settings (a reload may keep it).
  bool signs_as(const std::string& key, std::uint64_t sdkappid, const std::string& admin, std::int64_t ttl_s) const;

 private:
  std::string key_;
  std::uint64_t sdkappid_;
  std::string admin_;
  std::int64_t ttl_s_;
  std::string sig_;
  std::int64_t created_ = 0;
  std::uint64_t renewals_ = 0;
};

struct PollSettings {
  Mode mode = Mode::run;
  std::chrono::milliseconds interval{240000};
  std::chrono::milliseconds recheck{3600000};
  int retries = 3;
  std::size_t max_in_flight = 8;
};

class Poller : public std::enable_shared_from_this<Poller> {
 public:
  /// Every request goes through `budget`: its pool, and a permit from its
  /// limiter right before the write.
  Poller(boost::asio::io_context& io, const config::AppConfig& app, const config::PollConfig& poll, Mode mode,
         ResultOut& out, std::shared_ptr<Budget> budget);
  ~Poller();

  void start();
  /// New watchlist (reload). Keeps slots of unchanged groups by construction
  /// (slot order is hash order); a changed list un-parks every group.
  void set_groups(std::vector<std::string> ids, const std::unordered_map<std::string, config::GroupMetaPtr>& meta = {});
  /// The groups discovery found (with the vendor's names): they join the
  /// watchlist's; ones no longer found leave unless the watchlist names them.
  /// An ID in both is polled once, with the watchlist's name when it has one.
  void set_discovered(std::vector<std::pair<std::string, config::GroupMetaPtr>> found);
  std::size_t discovered_count() const;
  void set_interval(std::chrono::milliseconds interval);
  /// A reload that keeps this poller (same budget): groups, interval,
  /// retries, recheck, connections, and the credentials (a new key, admin or
  /// UserSig lifetime signs from now on).
  void apply(const config::AppConfig& app, const config::PollConfig& poll);
  /// Stops dispatching. In-flight attempts still complete and emit; queued
  /// retries and the retries of attempts still in flight go to `successor`
  /// when there is one (a restarted app), else they end with their last
  /// failure as the group's result: no group loses its result.
  void stop_dispatch(std::shared_ptr<Poller> successor = nullptr);
  const std::shared_ptr<Budget>& budget() const { return budget_; }
  /// The app left the config: its groups' series go (Prometheus).
  void forget_groups();
  /// Cancels in-flight attempts (end of the grace period).
  void cancel();

  bool finished() const { return finished_; }
  /// Stopped for misconfiguration (a reload starts it again).
  bool app_stopped() const { return stopped_; }
  std::size_t in_flight() const { return in_flight_; }
  std::size_t unanswered() const;
  std::size_t group_count() const { return groups_.size(); }
  const std::string& name() const { return app_.name; }
  const config::AppSettings& app_config() const { return app_; }
  AppMetrics metrics(Freshness freshness = Freshness::skip) const;
  void on_finished(std::function<void()> cb) { on_finished_ = std::move(cb); }

 private:
  // Where a group comes from (bits): its app's watchlists, discovery.
  static constexpr std::uint8_t from_config = 1, from_discovery = 2;
  struct Group {
    std::string id;
    std::int64_t parked_until_ms = 0;  // wall clock; 0 = active
    // Steady-clock ms of the group's newest OK count, or of when it joined
    // the watchlist: what the freshness figures measure.
    std::int64_t fresh_ms = 0;
    config::GroupMetaPtr meta;  // name and labels; null when none
    std::uint8_t from = from_config;
  };
  // One group of a new watchlist, before the merge with the current one.
  struct Entry {
    std::string id;
    config::GroupMetaPtr meta;
    std::uint8_t from = 0;
  };
  /// Replaces the groups by `next` (any order, an ID may repeat: its sources
  /// are joined, the watchlist's meta preferred).
  void replace_groups(std::vector<Entry> next);
  struct Work {
    std::string group_id;
    std::uint64_t cycle = 0;
    int attempt = 0;  // attempts made so far
    int extra = 0;    // attempts that did not count against retries
    std::chrono::steady_clock::time_point ready{};
    std::int64_t last_code = 0;  // the last failure, the result if no retry happens
    std::string last_info;
    std::size_t slot = SIZE_MAX;  // where the group was in groups_ (a hint: a reload may move it)
    bool operator>(const Work& o) const { return ready > o.ready; }
  };

  boost::asio::awaitable<void> dispatch();
  /// Cluster: whether this instance may send for the app now. On the way
  /// out queued retries end with their last failure (the next holder polls
  /// from its first slot on); on the way back in the cursor goes to the
  /// current slot, as it would have been with one instance.
  bool may_send(std::chrono::steady_clock::time_point now);
  /// Queued retries go to `successor`, or (null) end now with their last
  /// failure as the group's result.
  void hand_off_retries(Poller* successor);
  /// The request target up to `&random=`, for the UserSig of `now_unix`.
  std::shared_ptr<const std::string> target_prefix(std::int64_t now_unix);
  boost::asio::awaitable<void> attempt(Work w);
  /// What attempt() does with the answer (or failure) to its request.
  void answered(Work&& w, const http::Response& r, std::chrono::steady_clock::time_point t0, std::int64_t sig_age_s);
  /// The group's result, from `w` (its ID moves into the result).
  void finish(Work&& w, std::optional<std::uint64_t> count, std::int64_t code, std::string info);
  void note_failure(const std::string& group, std::int64_t code, const std::string& info);
  void retry_later(Work w, std::chrono::milliseconds delay, bool counts);
  /// A retry handed over by the poller this one replaced.
  void adopt(Work w);
  void apply_decision(Work& w, Decision& d);
  void park(const std::string& id, std::int64_t code);
  void stop_app(const std::string& reason);
  void notify();
  std::optional<Work> next_due(std::chrono::steady_clock::time_point& wake_at);
  std::chrono::nanoseconds interval_ns() const;
  void position_cursor(std::chrono::system_clock::time_point now);
  Group* find_group(const std::string& id);
  Group* find_group(const Work& w);
  void check_finished();
  void log_overrun(std::uint64_t cycle, std::size_t behind);
  void on_clock_step(const schedule::ScheduleClock::Reading& r);

  // A log line that repeats is written at most once per `every`.
  struct Every {
    std::chrono::steady_clock::duration every;
    std::chrono::steady_clock::time_point last{};
    bool due(std::chrono::steady_clock::time_point now) {
      if (last != std::chrono::steady_clock::time_point{} && now - last < every) return false;
      last = now;
      return true;
    }
  };
  // The counters at the last cycle.done, for per-cycle figures.
  struct CycleMark {
    std::uint64_t results = 0, results_ok = 0, rate_limited = 0;
    bool in_flight_full = false;  // a due request waited for a free in-flight slot
  };

  boost::asio::io_context& io_;
  config::AppSettings app_;  // without the watchlist (groups_ holds it) or the key
  PollSettings settings_;
  ResultOut& out_;
  std::shared_ptr<Budget> budget_;
  std::weak_ptr<Poller> successor_;
  tencent::Endpoint endpoint_;
  UserSigCache sig_;
  std::mt19937_64 rng_;
  boost::asio::steady_timer wake_;

  std::vector<Group> groups_;      // slot order
  schedule::Cursor slots_;         // run: which slot is due
  schedule::ScheduleClock sched_;  // the time slots_ runs on
  std::chrono::steady_clock::time_point last_dispatch_{};
  std::chrono::steady_clock::time_point started_at_ = std::chrono::steady_clock::now();
  std::size_t once_next_ = 0;  // once: the next group to send
  std::uint64_t overrun_logged_cycle_ = UINT64_MAX;
  std::priority_queue<Work, std::vector<Work>, std::greater<>> retries_;
  std::chrono::steady_clock::time_point paused_until_{};
  std::chrono::steady_clock::time_point bad_sig_renewed_at_{};
  std::chrono::steady_clock::time_point last_failure_log_{};
  std::uint64_t failures_unlogged_ = 0;
  // Kinds of failure (code and cause, "-1 connect failed") logged in the
  // current window: a new kind is told at once, repeats are summarised.
  std::set<std::string> failure_kinds_logged_;
  Every rate_log_{std::chrono::minutes(1)};
  std::chrono::milliseconds skew_pause_{0};  // the last clock-skew pause (doubles, reset by an OK answer)
  std::uint64_t rate_lowered_unlogged_ = 0;
  CycleMark cycle_mark_;
  std::size_t in_flight_ = 0;
  std::string target_sig_;                            // the UserSig target_prefix_ was built with
  std::shared_ptr<const std::string> target_prefix_;  // "...&usersig=...&random="
  bool stopping_ = false;
  bool stopped_ = false;  // app stopped for misconfiguration
  bool running_ = false;
  std::shared_ptr<cluster::Holding> holding_;  // cluster: null otherwise
  bool sending_ = true;
  bool finished_ = false;
  std::size_t once_answered_ = 0;  // once: groups with a final answer
  std::size_t once_final_ = 0;     // once: groups with any final result
  std::function<void()> on_finished_;

  AppMetrics m_;
};

}  // namespace groupwatch::app
