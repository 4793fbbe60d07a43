#include "app/hooks.hpp"

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
#include "groupwatch/tencent/errors.hpp"
#include "groupwatch/util/events.hpp"
#include "groupwatch/util/json_writer.hpp"
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

struct Sample {
  double t = 0;  // unix seconds
  std::uint64_t requests = 0, results = 0, results_ok = 0;
  double cap = 0, effective = 0;
};

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
    p.status_json = [this] { return status_cache.get([this] { return status_json(); }); };
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

  void cluster_json(JsonWriter& w, const std::vector<AppMetrics>& apps) const {
    auto c = cluster->status();
    w.object("cluster")
        .str("name", c.name)
        .flag("joined", c.joined)
        .str("etcd", c.reachable ? "ok" : "unreachable")
        .str("endpoint", c.endpoint)
        .num("lease_age_s", c.lease_age_s)
        .num("renew_failures", c.renew_failures)
        .array("holds");
    for (const auto& m : apps)
      if (m.held) w.str(m.name);
    w.end().array("members");
    for (const auto& name : c.members) w.str(name);
    w.end().array("apps");
    for (const auto& a : c.apps) {
      w.object()
          .num("sdkappid", a.sdkappid)
          .flag("held", a.held)
          .str("holder", a.holder)
          .num("acquired", a.acquired)
          .num("released", a.released)
          .num("lost", a.lost)
          .end();
    }
    w.end().end();
  }

  std::string status_json() {
    auto apps = engine.metrics(Freshness::compute);
    auto sinks = fanout.stats();
    auto ready = readiness();
    auto now_sys = std::chrono::system_clock::now();
    double now = unix_seconds(now_sys);
    std::string o;
    o.reserve(16 * 1024);
    JsonWriter w(o);
    w.object()
        .str("version", GW_VERSION)
        .num("time", now)
        .num("uptime_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count())
        .num("interval_s", std::chrono::duration<double>(interval).count())
        .num("sample_s", kSampleEvery.count())
        .flag("ready", ready.ready)
        .str("ready_reason", ready.reason)
        .array("apps");
    for (const auto& m : apps) app_json(w, m, now);
    w.end().array("top");
    top_json(w);
    w.end().array("parked");
    parked_json(w);
    w.end().array("sinks");
    sinks_json(w, sinks);
    w.end();
    if (cluster) cluster_json(w, apps);
    w.end();
    return o;
  }

  // The parts of status_json.
  void app_json(JsonWriter& w, const AppMetrics& m, double now) {
    w.object()
        .str("name", m.name)
        .num("sdkappid", m.sdkappid)
        .num("qps_cap", m.qps_cap)
        .num("qps_effective", m.qps_effective)
        .num("groups", m.groups)
        .num("parked", m.parked)
        .num("fresh_p50_s", m.fresh_p50_s)
        .num("fresh_p99_s", m.fresh_p99_s)
        .num("fresh_max_s", m.fresh_max_s)
        .num("cycle", m.cycle)
        .num("cycle_dispatched", m.cycle_dispatched)
        .num("requests", m.requests)
        .num("results", m.results)
        .num("results_ok", m.results_ok)
        .num("retries", m.retries)
        .num("rate_limited", m.rate_limited)
        .num("overruns", m.overruns)
        .num("clock_steps", m.clock_steps)
        .num("slots_skipped", m.slots_skipped)
        .num("in_flight", m.in_flight)
        .num("connections_open", m.connections_open)
        .flag("stopped", m.stopped)
        .str("stop_reason", log::redact(m.stop_reason))
        .flag("paused", m.paused)
        .object("outcomes");
    for (const auto& [code, n] : m.answers_by_code) {
      if (code == tencent::network_error_code && !m.failures_by_kind.empty()) continue;
      w.num(code == 0 ? "ok" : code == tencent::network_error_code ? "network" : std::to_string(code), n);
    }
    for (const auto& [kind, n] : m.failures_by_kind) w.num(kind, n);
    w.end().raw("history", history_json(m, now)).end();
  }

  void top_json(JsonWriter& w) {
    for (const auto& t : board.top()) {
      w.object().str("app", t.app).str("group_id", t.group_id).str("group_name", t.name).num("count", t.count);
      w.array("history");
      for (auto n : t.history) w.num(n);
      w.end().end();
    }
  }

  void parked_json(JsonWriter& w) {
    for (const auto& p : board.parked()) {
      w.object()
          .str("app", p.app)
          .str("group_id", p.group_id)
          .str("group_name", p.name)
          .num("code", p.code)
          .str("reason", p.reason)
          .str("time", format_rfc3339_ms(p.time))
          .end();
    }
  }

  void sinks_json(JsonWriter& w, const std::vector<delivery::SinkStats>& sinks) {
    auto steady_now = std::chrono::steady_clock::now();
    for (const auto& s : sinks) {
      auto it = sink_unhealthy_since.find(s.name);
      w.object()
          .str("name", s.name)
          .str("type", s.type)
          .num("queue_depth", s.queue_depth)
          .num("spooled", s.spooled)
          .num("spool_bytes", s.spool_bytes)
          .num("delivered", s.delivered)
          .num("dropped", s.dropped)
          .num("failures", s.failures)
          .flag("healthy", s.healthy)
          .str("last_error", log::redact(s.last_error))
          .num("failing_s",
               it == sink_unhealthy_since.end() ? 0.0 : std::chrono::duration<double>(steady_now - it->second).count())
          .end();
    }
  }

  // Rates between consecutive samples, plus a live point since the last one.
  std::string history_json(const AppMetrics& m, double now) {
    std::vector<Sample> s;
    if (auto it = history.find(m.name); it != history.end()) s.assign(it->second.begin(), it->second.end());
    if (s.empty() || now - s.back().t >= 1.0)
      s.push_back(Sample{now, m.requests, m.results, m.results_ok, m.qps_cap, m.qps_effective});
    std::string t, rate, ok, err, cap, eff;
    for (std::size_t i = 1; i < s.size(); ++i) {
      double dt = s[i].t - s[i - 1].t;
      if (dt <= 0) continue;
      auto d = [&](std::uint64_t a, std::uint64_t b) { return a >= b ? static_cast<double>(a - b) / dt : 0.0; };
      auto add = [](std::string& out, double v) {
        if (!out.empty()) out += ',';
        out += fmt::format("{:.3f}", v);
      };
      add(t, s[i].t);
      add(rate, d(s[i].requests, s[i - 1].requests));
      add(ok, d(s[i].results_ok, s[i - 1].results_ok));
      std::uint64_t e1 = s[i].results - s[i].results_ok, e0 = s[i - 1].results - s[i - 1].results_ok;
      add(err, d(e1, e0));
      add(cap, s[i].cap);
      add(eff, s[i].effective);
    }
    return "{\"t\":[" + t + "],\"rate\":[" + rate + "],\"ok\":[" + ok + "],\"err\":[" + err + "],\"cap\":[" + cap +
           "],\"effective\":[" + eff + "]}";
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
