#include "app/hooks.hpp"

#include "app/status.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <string>

#include <fmt/format.h>
#include <boost/asio/steady_timer.hpp>

#include "groupwatch/admin/server.hpp"
#include "groupwatch/cluster/coordinator.hpp"
#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::app {

namespace asio = boost::asio;

namespace {

constexpr auto kSampleEvery = std::chrono::seconds(5);
constexpr std::size_t kHistorySamples = 15 * 60 / 5 + 1;  // 15 minutes

double unix_seconds(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

}  // namespace

struct RunHooks::Impl {
  asio::io_context& io;
  Engine& engine;
  delivery::Fanout& fanout;
  const cluster::Coordinator* cluster = nullptr;
  asio::steady_timer watchdog;
  std::chrono::microseconds watchdog_every{0};
  bool closed = false;

  std::string listen;
  std::chrono::milliseconds interval;
  std::chrono::milliseconds sink_failing_after;
  std::unique_ptr<admin::Server> server;
  asio::steady_timer sampler;
  std::map<std::string, std::deque<Sample>> history;  // per app
  std::map<std::string, std::chrono::steady_clock::time_point> sink_unhealthy_since;
  GroupBoard board;
  LoopLag lag;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  Impl(asio::io_context& i, Engine& e, delivery::Fanout& f, const config::Config& cfg)
      : io(i),
        engine(e),
        fanout(f),
        watchdog(i),
        listen(cfg.admin.listen),
        interval(cfg.poll.interval),
        sink_failing_after(cfg.admin.sink_failing_after),
        sampler(i),
        lag(i) {
    lag.start();
  }

  // WATCHDOG=1 is sent from the io_context itself: a stuck loop stops
  // sending and systemd restarts the service.
  void pet() {
    if (closed || watchdog_every.count() == 0) return;
    sd_notify("WATCHDOG=1");
    watchdog.expires_after(watchdog_every / 2);
    watchdog.async_wait([this](boost::system::error_code ec) {
      if (!ec) pet();
    });
  }

  // Binds and starts an admin server on `addr`; throws with the address and
  // the OS error (a busy port) so that run exits 2 and a reload is refused.
  std::unique_ptr<admin::Server> make_admin(const std::string& addr) {
    admin::Provider p;
    // Rendered at most once a second however many clients poll: the
    // polling thread's cost of the side doors is bounded.
    p.metrics = [this] {
      return metrics_cache.get([this] {
        auto l = lag.stats();
        std::optional<cluster::ClusterStatus> c;
        if (cluster) c = cluster->status();
        return render_metrics(engine.metrics(Freshness::compute), fanout.stats(), &l, c ? &*c : nullptr);
      });
    };
    p.status_json = [this] { return status_cache.get([this] { return status_document(status_view()); }); };
    p.readiness = [this] { return readiness(); };
    auto s = std::make_unique<admin::Server>(io, addr, std::move(p));
    try {
      s->start();
    } catch (const std::exception& e) {
      throw std::runtime_error("admin.listen " + addr + ": " + e.what());
    }
    return s;
  }

  // A rendered document, reused for a second.
  struct Cached {
    std::string text;
    std::chrono::steady_clock::time_point at{};
    template <class F>
    const std::string& get(F render) {
      auto now = std::chrono::steady_clock::now();
      if (at == std::chrono::steady_clock::time_point{} || now - at >= std::chrono::seconds(1)) {
        text = render();
        at = now;
      }
      return text;
    }
  };
  Cached metrics_cache, status_cache;

  void stop_admin() {
    if (server) server->stop();
    server.reset();
  }

  void take_sample() {
    double now = unix_seconds(std::chrono::system_clock::now());
    for (const auto& m : engine.metrics()) {
      auto& h = history[m.name];
      h.push_back(Sample{now, m.requests, m.results, m.results_ok, m.qps_cap, m.qps_effective});
      while (h.size() > kHistorySamples) h.pop_front();
    }
    track_sinks(fanout.stats());
  }

  void sample_loop() {
    if (closed) return;
    take_sample();
    sampler.expires_after(kSampleEvery);
    sampler.async_wait([this](boost::system::error_code ec) {
      if (!ec) sample_loop();
    });
  }

  void track_sinks(const std::vector<delivery::SinkStats>& stats) {
    auto now = std::chrono::steady_clock::now();
    for (const auto& s : stats) {
      if (s.healthy)
        sink_unhealthy_since.erase(s.name);
      else
        sink_unhealthy_since.try_emplace(s.name, now);
    }
  }

  // One reason a line (interface.md, "Health says the truth"): every
  // stopped app, every sink failing for longer than sink_failing_after.
  admin::Readiness readiness() {
    auto apps = engine.metrics();
    std::vector<std::string> reasons;
    bool polling = false;
    cluster_readiness(reasons);
    for (const auto& m : apps) {
      if (m.stopped) reasons.push_back("app '" + m.name + "' stopped: " + m.stop_reason);
      // A cluster instance that holds nothing stands by: that is ready.
      polling = polling || (!m.stopped && (m.groups > 0 || m.clustered));
      // A cycle that stalled: nothing started for much longer than the slot
      // spacing (a paused app, or one another instance polls, says so on its own).
      if (!m.stopped && !m.paused && m.held && m.groups > 0 && m.idle_s > 2 * m.slot_spacing_s + 30) {
        reasons.push_back(
            fmt::format("app '{}' has started no request for {:.0f} s (its cycle stalled)", m.name, m.idle_s));
      }
    }
    if (!polling && reasons.empty()) reasons.push_back("no app is polling (no app has groups)");
    auto stats = fanout.stats();
    track_sinks(stats);
    auto now = std::chrono::steady_clock::now();
    for (const auto& s : stats) {
      auto it = sink_unhealthy_since.find(s.name);
      if (it == sink_unhealthy_since.end() || now - it->second < sink_failing_after) continue;
      auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - it->second);
      reasons.push_back("sink '" + s.name + "' has been failing for " + format_duration(secs) + ": " +
                        log::redact(s.last_error));
    }
    if (reasons.empty()) return {true, {}};
    std::string text;
    for (const auto& r : reasons) text += (text.empty() ? "" : "\n") + r;
    return {false, text};
  }

  void cluster_readiness(std::vector<std::string>& reasons) const {
    if (!cluster) return;
    auto c = cluster->status();
    if (!c.joined) {
      reasons.push_back("cluster: not joined yet (etcd: " + (c.etcd_error.empty() ? "no answer yet" : c.etcd_error) +
                        "); polling nothing");
    } else if (!c.reachable) {
      reasons.push_back(fmt::format("cluster: no lease renewal for {:.0f} s (etcd: {}); polling nothing", c.lease_age_s,
                                    c.etcd_error));
    }
  }

  StatusView status_view() {
    StatusView v;
    v.apps = engine.metrics(Freshness::compute);
    v.sinks = fanout.stats();
    v.ready = readiness();
    v.now = unix_seconds(std::chrono::system_clock::now());
    auto steady_now = std::chrono::steady_clock::now();
    v.uptime_s = std::chrono::duration<double>(steady_now - started).count();
    v.interval_s = std::chrono::duration<double>(interval).count();
    v.sample_s = std::chrono::duration<double>(kSampleEvery).count();
    for (const auto& [app, samples] : history) v.history[app].assign(samples.begin(), samples.end());
    v.top = board.top();
    v.parked = board.parked();
    for (const auto& [sink, since] : sink_unhealthy_since)
      v.sinks_failing_s[sink] = std::chrono::duration<double>(steady_now - since).count();
    if (cluster) v.cluster = cluster->status();
    return v;
  }
};

RunHooks::RunHooks(asio::io_context& io, Engine& engine, const config::Config& cfg, delivery::Fanout& fanout)
    : impl_(std::make_unique<Impl>(io, engine, fanout, cfg)) {
  if (const char* usec = std::getenv("WATCHDOG_USEC")) {
    try {
      impl_->watchdog_every = std::chrono::microseconds(std::stoll(usec));
    } catch (const std::exception&) {
    }
  }
}

RunHooks::~RunHooks() = default;

void RunHooks::listen() {
  if (!impl_->listen.empty()) impl_->server = impl_->make_admin(impl_->listen);
}

void RunHooks::set_cluster(const cluster::Coordinator* c) {
  impl_->cluster = c;
}

void RunHooks::ready() {
  impl_->sample_loop();
  sd_notify("READY=1");
  impl_->pet();
}

std::unique_ptr<admin::Server> RunHooks::prepare_listen(const std::string& listen) {
  if (listen == impl_->listen || listen.empty()) return nullptr;
  return impl_->make_admin(listen);
}

void RunHooks::reloaded(const config::Config& cfg, std::unique_ptr<admin::Server> server) {
  impl_->interval = cfg.poll.interval;
  impl_->sink_failing_after = cfg.admin.sink_failing_after;
  if (cfg.admin.listen != impl_->listen) {
    impl_->stop_admin();
    impl_->listen = cfg.admin.listen;
    impl_->server = std::move(server);
  }
  sd_notify("READY=1");
}

void RunHooks::stopping() {
  sd_notify("STOPPING=1");
}

void RunHooks::close() {
  impl_->closed = true;
  impl_->watchdog.cancel();
  impl_->sampler.cancel();
  impl_->lag.stop();
  impl_->stop_admin();
}

void RunHooks::observe(const delivery::Result& r) {
  impl_->board.observe(r);
}

std::uint16_t RunHooks::admin_port() const {
  return impl_->server ? impl_->server->port() : 0;
}

}  // namespace groupwatch::app
