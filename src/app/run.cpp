// `groupwatch run` and `groupwatch once`: config, sinks, engine, signals.
#include <malloc.h>
#include <pthread.h>
#include <unistd.h>

#include <csignal>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include <fmt/format.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "app/budget.hpp"
#include "app/commands.hpp"
#include "app/control.hpp"
#include "app/hooks.hpp"
#include "app/preflight.hpp"
#include "groupwatch/admin/server.hpp"
#include "groupwatch/app/engine.hpp"
#include "groupwatch/cluster/coordinator.hpp"
#include "groupwatch/delivery/fanout.hpp"
#include "groupwatch/tencent/errors.hpp"
#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"

namespace groupwatch::app {

namespace asio = boost::asio;

namespace {

class FanoutOut : public ResultOut {
 public:
  explicit FanoutOut(delivery::Fanout& f) : f_(f) {}
  void push(delivery::Result&& r) override {
    if (hooks_) hooks_->observe(r);
    f_.push(std::move(r));
  }
  void forget(const std::string& app, const std::string& group_id) override { f_.forget(app, group_id); }
  void observe_with(RunHooks* hooks) { hooks_ = hooks; }

 private:
  delivery::Fanout& f_;
  RunHooks* hooks_ = nullptr;
};

// FNV-1a over the IDs (each ended by a NUL) and, for entries with a name
// or labels, those too: a renamed group is a changed watchlist.
std::uint64_t digest(const config::AppConfig& app) {
  std::uint64_t h = 1469598103934665603ull;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
    h = (h ^ 0u) * 1099511628211ull;
  };
  for (const auto& g : app.groups) {
    mix(g);
    auto m = app.group_meta.find(g);
    if (m == app.group_meta.end()) continue;
    mix(m->second->name);
    for (const auto& [k, v] : m->second->labels) {
      mix(k);
      mix(v);
    }
  }
  return h;
}

void drop_groups(config::Config& cfg) {
  // The engine has its own copy in slot order; keep one copy in memory.
  for (auto& a : cfg.apps) {
    a.groups_digest = digest(a);
    a.groups.clear();
    a.groups.shrink_to_fit();
    a.group_meta.clear();
  }
  // Loading a large watchlist (YAML above all: a node per entry) leaves
  // megabytes freed but resident; hand them back, or RSS keeps the peak.
  ::malloc_trim(0);
}

// Both carry groups_digest (`running` has dropped its groups).
bool apps_differ(const config::Config& running, const config::Config& next) {
  if (running.apps.size() != next.apps.size()) return true;
  for (std::size_t i = 0; i < next.apps.size(); ++i) {
    const auto &a = running.apps[i], &b = next.apps[i];
    if (a.name != b.name || a.sdkappid != b.sdkappid || a.admin != b.admin || a.secret_key != b.secret_key ||
        a.endpoint != b.endpoint || a.ca_file != b.ca_file || a.tls_verify != b.tls_verify || a.qps != b.qps ||
        a.usersig_ttl != b.usersig_ttl || a.groups_digest != b.groups_digest || a.discover != b.discover)
      return true;
  }
  return false;
}

// Writes "\r<progress>" to stderr every 250 ms while `once` runs on a terminal.
class Progress {
 public:
  Progress(asio::io_context& io, const Engine& e) : timer_(io), engine_(e), start_(std::chrono::steady_clock::now()) {}
  void start() { tick(); }
  void stop() {
    stopped_ = true;
    timer_.cancel();
    draw();
    std::fputc('\n', stderr);
  }

 private:
  void tick() {
    if (stopped_) return;
    draw();
    timer_.expires_after(std::chrono::milliseconds(250));
    timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) tick();
    });
  }
  void draw() {
    std::uint64_t done = 0, errors = 0;
    double cap = 0, eff = 0;
    for (const auto& m : engine_.metrics()) {
      done += m.results;
      errors += m.results - m.results_ok;
      cap += m.qps_cap;
      eff += m.qps_effective;
    }
    auto total = engine_.total_groups();
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
    double rate = secs > 0.5 ? static_cast<double>(done) / secs : 0;
    double left = rate > 0 ? static_cast<double>(total - std::min<std::uint64_t>(done, total)) / rate : 0;
    std::fprintf(stderr, "\r%llu/%zu groups  %.0f req/s of %.0f cap  %llu errors  %.0fs left   ",
                 static_cast<unsigned long long>(done), total, rate, cap, static_cast<unsigned long long>(errors),
                 left);
    std::fflush(stderr);
  }
  asio::steady_timer timer_;
  const Engine& engine_;
  std::chrono::steady_clock::time_point start_;
  bool stopped_ = false;
};

// Signals that stop or reload are held from the first instruction until
// the signal_set is in place: one that arrives during a slow start-up (a
// large watchlist) is then handled, not fatal.
class HoldSignals {
 public:
  HoldSignals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGHUP, SIGTERM, SIGINT}) sigaddset(&set, s);
    pthread_sigmask(SIG_BLOCK, &set, &old_);
  }
  ~HoldSignals() { release(); }
  void release() {
    if (released_) return;
    released_ = true;
    pthread_sigmask(SIG_SETMASK, &old_, nullptr);
  }

 private:
  sigset_t old_{};
  bool released_ = false;
};

// Config, logging and the sinks, shared by run and once. Returns 0, or the
// exit status: 2 for a bad config, a failed start-up check (the same as
// `check`'s) or a state_dir held by another daemon, 1 when the sinks cannot
// start. Problems found after the config is read go through the logger, in
// the configured format.
int start(const std::string& config_path, std::optional<config::Config>& cfg, std::unique_ptr<delivery::Fanout>& fanout,
          std::unique_ptr<StateLock>* lock = nullptr) {
  std::vector<delivery::ParsedSink> sinks;
  cfg = load_or_report(config_path, &sinks, true);
  if (!cfg) return 2;
  configure_logging(*cfg);
  if (auto problems = preflight(*cfg, sinks); !problems.empty()) {
    for (const auto& p : problems) log::error(events::config_invalid, p);
    log::error(events::config_invalid, "nothing started: the config passes parsing but not the start-up checks",
               {{"path", config_path}, {"errors", static_cast<std::uint64_t>(problems.size())}});
    return 2;
  }
  if (lock) {
    std::string error;
    *lock = StateLock::take(cfg->state_dir, error);
    if (!*lock) {
      log::error(events::state_locked, error, {{"state_dir", cfg->state_dir}});
      return 2;
    }
  }
  try {
    fanout = std::make_unique<delivery::Fanout>(std::move(sinks), cfg->state_dir);
  } catch (const std::exception& e) {
    log::error(events::sink_failed, e.what());
    return 1;
  }
  return 0;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ",") + s;
  return out;
}

// A reload's config, read and checked on a thread of its own: a large
// watchlist or a slow disk never stops polling or the admin server.
struct Loaded {
  std::optional<config::Config> cfg;
  std::vector<delivery::ParsedSink> sinks;
  std::vector<std::string> problems;  // preflight
};

Loaded load_for_reload(const std::string& config_path) {
  Loaded l;
  l.cfg = load_or_report(config_path, &l.sinks, true, "the running config stays in force");
  if (!l.cfg) return l;
  for (auto& a : l.cfg->apps) a.groups_digest = digest(a);
  l.problems = preflight(*l.cfg, l.sinks);
  return l;
}

// SIGHUP, on the polling thread once `l` is loaded: everything in the new
// config applies, or nothing does. Returns false (after logging why) when
// the reload is refused.
bool apply_reload(const std::string& config_path, Loaded& l, std::optional<config::Config>& running, Engine& engine,
                  delivery::Fanout& fanout, RunHooks& hooks) {
  const config::Config& current = *running;
  auto refuse = [&](std::string_view why, std::initializer_list<log::Field> more = {}) {
    log::error(events::config_reload_failed, why, more);
    log::error(events::config_reload_failed, "reload refused: the running config stays in force",
               {{"path", config_path}});
    return false;
  };
  auto& next = l.cfg;
  auto& sinks = l.sinks;
  if (!next) return refuse("the new config is invalid (see above)");
  if (next->state_dir != current.state_dir) {
    return refuse(
        "state_dir cannot change while running (the lock, the spools and the control socket live there): "
        "restart groupwatch to move it",
        {{"key", "state_dir"}, {"running", current.state_dir}, {"new", next->state_dir}});
  }
  if (next->cluster != current.cluster) {
    return refuse("cluster cannot change while running (the lease and the instance name are held): restart groupwatch",
                  {{"key", "cluster"}});
  }
  if (!l.problems.empty()) {
    for (const auto& p : l.problems) log::error(events::config_reload_failed, p);
    return refuse("the new config fails the start-up checks (see above)");
  }
  std::unique_ptr<admin::Server> server;
  delivery::Fanout::Change sink_change;
  try {
    server = hooks.prepare_listen(next->admin.listen);
    sink_change = fanout.reconfigure(std::move(sinks), next->poll.grace);
  } catch (const std::exception& e) {
    return refuse(e.what());
  }
  for (const auto& a : next->apps) log::add_secret(a.secret_key);
  std::vector<std::string> changed;
  auto differs = [](const auto& a, const auto& b) { return !(a == b); };
  if (differs(current.log, next->log)) changed.push_back("log");
  if (differs(current.poll, next->poll)) changed.push_back("poll");
  if (differs(current.admin, next->admin)) changed.push_back("admin");
  if (!sink_change.empty()) changed.push_back("sinks");
  if (apps_differ(current, *next)) changed.push_back("apps");
  auto summary = engine.reload(*next);
  configure_logging(*next);
  hooks.reloaded(*next, std::move(server));
  log::info(events::config_reload, changed.empty() ? "config reloaded: nothing changed" : "config reloaded",
            {{"changed", joined(changed)},
             {"apps_kept", static_cast<std::uint64_t>(summary.kept)},
             {"apps_started", static_cast<std::uint64_t>(summary.started)},
             {"apps_restarted", static_cast<std::uint64_t>(summary.restarted)},
             {"apps_removed", static_cast<std::uint64_t>(summary.removed)},
             {"pools_replaced", static_cast<std::uint64_t>(summary.pools_replaced)},
             {"sinks_added", joined(sink_change.added)},
             {"sinks_removed", joined(sink_change.removed)},
             {"sinks_changed", joined(sink_change.changed)},
             {"log_level", next->log.level},
             {"groups", static_cast<std::uint64_t>(next->total_groups())}});
  drop_groups(*next);
  running = std::move(next);
  return true;
}

}  // namespace

namespace {

// One reload at a time, loaded off the loop's thread; a SIGHUP during a
// reload runs another one after it (the file may have changed again).
class Reloader {
 public:
  Reloader(asio::io_context& io, const std::string& path, std::optional<config::Config>& cfg, Engine& engine,
           delivery::Fanout& fanout, RunHooks& hooks, const bool& stopping)
      : io_(io), path_(path), cfg_(cfg), engine_(engine), fanout_(fanout), hooks_(hooks), stopping_(stopping) {}
  Reloader(const Reloader&) = delete;
  Reloader& operator=(const Reloader&) = delete;
  ~Reloader() { join(); }

  void request() {
    if (running_) {
      again_ = true;
      return;
    }
    running_ = true;
    join();
    thread_ = std::thread([this] {
      auto l = std::make_shared<Loaded>(load_for_reload(path_));
      asio::post(io_, [this, l] {
        running_ = false;
        if (stopping_) return;
        apply_reload(path_, *l, cfg_, engine_, fanout_, hooks_);
        if (std::exchange(again_, false)) request();
      });
    });
  }
  void join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  asio::io_context& io_;
  const std::string& path_;
  std::optional<config::Config>& cfg_;
  Engine& engine_;
  delivery::Fanout& fanout_;
  RunHooks& hooks_;
  const bool& stopping_;
  std::thread thread_;
  bool running_ = false, again_ = false;
};

// After the loop: one grace period for the whole shutdown, so the sinks get
// what the in-flight requests left of it (at least a second to flush). From
// here a second SIGTERM or SIGINT (the sinks are still flushing) exits at
// once; what they hold in memory is lost, what is spooled is not.
int drain_sinks(delivery::Fanout& fanout, const config::Config& cfg, bool stopping,
                std::chrono::steady_clock::time_point stop_began) {
  struct sigaction now_or_never {};
  now_or_never.sa_handler = [](int) {
    static constexpr char msg[] = "groupwatch: second signal while the sinks flush: exiting now\n";
    (void)!::write(STDERR_FILENO, msg, sizeof msg - 1);
    std::_Exit(1);
  };
  sigemptyset(&now_or_never.sa_mask);
  ::sigaction(SIGTERM, &now_or_never, nullptr);
  ::sigaction(SIGINT, &now_or_never, nullptr);
  const auto grace = cfg.poll.grace;  // as reloaded
  auto sink_grace = grace;
  if (stopping) {
    auto used = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - stop_began);
    sink_grace = std::max<std::chrono::milliseconds>(grace - used, std::chrono::seconds(1));
  }
  bool all = fanout.stop(sink_grace);
  log::info(events::shutdown_done, all ? "stopped; every result delivered" : "stopped; undelivered results are spooled",
            {{"state_dir", cfg.state_dir}});
  if (fanout.abandoned()) {
    // A sink thread is stuck in a write that ignored its cancel: everything
    // is spooled, and waiting for that thread could take forever.
    std::fflush(nullptr);
    std::_Exit(0);
  }
  return 0;
}

void log_loaded(const std::string& config_path, const config::Config& cfg) {
  log::info(events::config_loaded, "config loaded",
            {{"path", config_path},
             {"apps", static_cast<std::uint64_t>(cfg.apps.size())},
             {"groups", static_cast<std::uint64_t>(cfg.total_groups())}});
}

// Binds admin.listen; false (logged) when it cannot: nothing starts.
bool listen_admin(RunHooks& hooks, const config::Config& cfg) {
  try {
    hooks.listen();
    return true;
  } catch (const std::exception& e) {
    log::error(events::admin_listening, std::string("nothing started: ") + e.what(), {{"listen", cfg.admin.listen}});
    return false;
  }
}

// The socket `query` and `once` beside this daemon go through; without it
// they poll on their own (logged).
std::unique_ptr<ControlServer> open_control(asio::io_context& io, Engine& engine, const std::string& state_dir) {
  try {
    return std::make_unique<ControlServer>(io, engine, state_dir);
  } catch (const std::exception& e) {
    log::warn(events::control_failed,
              std::string(e.what()) + ": `query` and `once` beside this daemon will not share its budget");
    return nullptr;
  }
}

}  // namespace

int cmd_run(const std::string& config_path) {
  HoldSignals held;
  std::optional<config::Config> cfg;
  std::unique_ptr<delivery::Fanout> fanout;
  std::unique_ptr<StateLock> lock;
  if (int status = start(config_path, cfg, fanout, &lock); status != 0) return status;
  asio::io_context io(1);
  FanoutOut out(*fanout);
  auto coordinator = cfg->cluster ? std::make_unique<cluster::Coordinator>(io, *cfg->cluster) : nullptr;
  Engine engine(io, *cfg, out, Mode::run, coordinator.get());
  log_loaded(config_path, *cfg);
  RunHooks hooks(io, engine, *cfg, *fanout);
  hooks.set_cluster(coordinator.get());
  out.observe_with(&hooks);
  if (!listen_admin(hooks, *cfg)) {
    out.observe_with(nullptr);
    fanout->stop(std::chrono::seconds(1));
    return 2;
  }
  drop_groups(*cfg);
  auto control = open_control(io, engine, cfg->state_dir);
  int exit_status = 0;
  bool stopping = false;
  std::chrono::steady_clock::time_point stop_began{};
  asio::signal_set signals(io, SIGTERM, SIGINT, SIGHUP);
  // Stops the engine (requests in flight get `grace`), then leaves the
  // cluster when in one (its SDKAppIDs go to the others at once), then ends
  // the loop.
  auto stop_all = [&](std::chrono::milliseconds grace, bool leave) {
    stopping = true;
    stop_began = std::chrono::steady_clock::now();
    hooks.stopping();
    engine.stop(grace, [&, leave] {
      signals.cancel();
      auto end = [&] {
        hooks.close();
        io.stop();
      };
      if (coordinator && leave) {
        coordinator->leave(end);
      } else {
        end();
      }
    });
  };
  if (coordinator) {
    coordinator->start([&] {  // the name is taken (logged): exit 2
      exit_status = 2;
      stop_all(std::chrono::milliseconds(0), false);
    });
  }
  engine.start();
  hooks.ready();
  Reloader reloads(io, config_path, cfg, engine, *fanout, hooks, stopping);
  held.release();  // a signal that came during start-up is delivered now
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      if (!stopping) reloads.request();
      signals.async_wait(on_signal);
      return;
    }
    if (stopping) {
      log::warn(events::shutdown_begin, "second signal: exiting now");
      io.stop();
      return;
    }
    log::info(events::shutdown_begin, "stopping: finishing in-flight requests", {{"signal", sig}});
    stop_all(cfg->poll.grace, true);
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  io.run();
  reloads.join();
  out.observe_with(nullptr);  // hooks go before the engine
  signals.clear();
  const int drained = drain_sinks(*fanout, *cfg, stopping, stop_began);
  return exit_status != 0 ? exit_status : drained;
}

int cmd_once(const std::string& config_path, bool quiet) {
  HoldSignals held;
  std::optional<config::Config> cfg;
  std::unique_ptr<delivery::Fanout> fanout;
  if (int status = start(config_path, cfg, fanout); status != 0) return status;
  auto grace = cfg->poll.grace;
  asio::io_context io(1);
  FanoutOut out(*fanout);
  // Apps that a running daemon on this state_dir polls go through it, inside
  // its budget; the rest are polled here. Waiting for the daemon may take
  // minutes: Ctrl-C ends it the default way.
  held.release();
  std::size_t remote_unanswered = 0;
  std::erase_if(cfg->apps, [&](const config::AppConfig& a) {
    auto results = ask_daemon(cfg->state_dir, budget_key(a), a.groups);
    if (!results && cfg->cluster) {
      // Sent from here it would be a second sender for the SDKAppID.
      log::error(events::control_ask,
                 "with cluster:, once goes through this host's running instance, and none here polls this app now: "
                 "its groups get no answer (run once where the SDKAppID is held)",
                 {{"app", a.name}, {"sdkappid", a.sdkappid}});
      remote_unanswered += a.groups.size();
      return true;
    }
    if (!results) return false;
    log::info(events::control_ask, "polled through the running daemon",
              {{"app", a.name}, {"groups", static_cast<std::uint64_t>(results->size())}});
    for (auto& r : *results) {
      r.app = a.name;
      if (r.error_code == groupwatch::tencent::network_error_code) ++remote_unanswered;
      out.push(std::move(r));
    }
    return true;
  });
  Engine engine(io, *cfg, out, Mode::once);
  drop_groups(*cfg);
  std::unique_ptr<Progress> progress;
  if (!quiet && ::isatty(STDERR_FILENO)) progress = std::make_unique<Progress>(io, engine);
  bool interrupted = false;
  asio::signal_set signals(io, SIGTERM, SIGINT);
  engine.on_finished([&] {
    signals.cancel();
    io.stop();
  });
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    interrupted = true;
    log::info(events::shutdown_begin, "interrupted: finishing in-flight requests");
    engine.stop(grace, [&] { io.stop(); });
  });
  engine.start();
  if (progress) progress->start();
  io.run();
  if (progress) progress->stop();
  auto unanswered = engine.unanswered() + remote_unanswered;
  bool delivered = fanout->stop(grace);
  if (unanswered > 0)
    log::warn(events::poll_error, "some groups got no answer",
              {{"unanswered", static_cast<std::uint64_t>(unanswered)}});
  if (!delivered) log::warn(events::sink_failed, "not every sink took every result (spooled for the next run)");
  return (!interrupted && unanswered == 0 && delivered) ? 0 : 1;
}

}  // namespace groupwatch::app
