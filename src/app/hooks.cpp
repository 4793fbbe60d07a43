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

void num(std::string& out, std::string_view key, double v) {
  append_json_string(out, key);
  out += ':';
  out += std::isfinite(v) ? fmt::format("{}", v) : std::string("null");
}
void str(std::string& out, std::string_view key, std::string_view v) {
  append_json_string(out, key);
  out += ':';
  append_json_string(out, v);
}
void boolean(std::string& out, std::string_view key, bool v) {
  append_json_string(out, key);
  out += v ? ":true" : ":false";
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

  void cluster_json(std::string& o) const {
    auto c = cluster->status();
    o += ",\"cluster\":{";
    str(o, "name", c.name);
    o += ',';
    boolean(o, "joined", c.joined);
    o += ',';
    str(o, "etcd", c.reachable ? "ok" : "unreachable");
    o += ',';
    str(o, "endpoint", c.endpoint);
    o += ',';
    num(o, "lease_age_s", c.lease_age_s);
    o += ',';
    num(o, "renew_failures", static_cast<double>(c.renew_failures));
    o += ",\"holds\":[";
    bool first = true;
    for (const auto& m : engine.metrics()) {
      if (!m.held) continue;
      if (!first) o += ',';
      append_json_string(o, m.name);
      first = false;
    }
    o += "],\"members\":[";
    first = true;
    for (const auto& name : c.members) {
      if (!first) o += ',';
      append_json_string(o, name);
      first = false;
    }
    o += "],\"apps\":[";
    first = true;
    for (const auto& a : c.apps) {
      if (!first) o += ',';
      first = false;
      o += '{';
      num(o, "sdkappid", static_cast<double>(a.sdkappid));
      o += ',';
      boolean(o, "held", a.held);
      o += ',';
      str(o, "holder", a.holder);
      o += ',';
      num(o, "acquired", static_cast<double>(a.acquired));
      o += ',';
      num(o, "released", static_cast<double>(a.released));
      o += ',';
      num(o, "lost", static_cast<double>(a.lost));
      o += '}';
    }
    o += "]}";
  }

  std::string status_json() {
    auto apps = engine.metrics(Freshness::compute);
    auto sinks = fanout.stats();
    auto ready = readiness();
    auto now_sys = std::chrono::system_clock::now();
    double now = unix_seconds(now_sys);
    std::string o;
    o.reserve(16 * 1024);
    o += '{';
    str(o, "version", GW_VERSION);
    o += ',';
    num(o, "time", now);
    o += ',';
    num(o, "uptime_s", std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    o += ',';
    num(o, "interval_s", std::chrono::duration<double>(interval).count());
    o += ',';
    num(o, "sample_s", static_cast<double>(kSampleEvery.count()));
    o += ',';
    boolean(o, "ready", ready.ready);
    o += ',';
    str(o, "ready_reason", ready.reason);
    o += ",\"apps\":[";
    apps_json(o, apps, now);
    o += "],\"top\":[";
    top_json(o);
    o += "],\"parked\":[";
    parked_json(o);
    o += "],\"sinks\":[";
    sinks_json(o, sinks);
    o += ']';
    if (cluster) cluster_json(o);
    o += '}';
    return o;
  }

  // The parts of status_json, each an array's elements.
  void apps_json(std::string& o, const std::vector<AppMetrics>& apps, double now) {
    bool first = true;
    for (const auto& m : apps) {
      if (!first) o += ',';
      first = false;
      o += '{';
      str(o, "name", m.name);
      o += ',';
      num(o, "sdkappid", static_cast<double>(m.sdkappid));
      o += ',';
      num(o, "qps_cap", m.qps_cap);
      o += ',';
      num(o, "qps_effective", m.qps_effective);
      o += ',';
      num(o, "groups", static_cast<double>(m.groups));
      o += ',';
      num(o, "parked", static_cast<double>(m.parked));
      o += ',';
      num(o, "fresh_p50_s", m.fresh_p50_s);
      o += ',';
      num(o, "fresh_p99_s", m.fresh_p99_s);
      o += ',';
      num(o, "fresh_max_s", m.fresh_max_s);
      o += ',';
      num(o, "cycle", static_cast<double>(m.cycle));
      o += ',';
      num(o, "cycle_dispatched", static_cast<double>(m.cycle_dispatched));
      o += ',';
      num(o, "requests", static_cast<double>(m.requests));
      o += ',';
      num(o, "results", static_cast<double>(m.results));
      o += ',';
      num(o, "results_ok", static_cast<double>(m.results_ok));
      o += ',';
      num(o, "retries", static_cast<double>(m.retries));
      o += ',';
      num(o, "rate_limited", static_cast<double>(m.rate_limited));
      o += ',';
      num(o, "overruns", static_cast<double>(m.overruns));
      o += ',';
      num(o, "clock_steps", static_cast<double>(m.clock_steps));
      o += ',';
      num(o, "slots_skipped", static_cast<double>(m.slots_skipped));
      o += ',';
      num(o, "in_flight", static_cast<double>(m.in_flight));
      o += ',';
      num(o, "connections_open", static_cast<double>(m.connections_open));
      o += ',';
      boolean(o, "stopped", m.stopped);
      o += ',';
      str(o, "stop_reason", log::redact(m.stop_reason));
      o += ',';
      boolean(o, "paused", m.paused);
      o += ",\"outcomes\":{";
      bool f2 = true;
      auto outcome = [&](const std::string& k, std::uint64_t n) {
        if (!f2) o += ',';
        f2 = false;
        num(o, k, static_cast<double>(n));
      };
      for (const auto& [code, n] : m.answers_by_code) {
        if (code == tencent::network_error_code && !m.failures_by_kind.empty()) continue;
        outcome(code == 0 ? "ok" : code == tencent::network_error_code ? "network" : std::to_string(code), n);
      }
      for (const auto& [kind, n] : m.failures_by_kind) outcome(kind, n);
      o += "},\"history\":";
      o += history_json(m, now);
      o += '}';
    }
  }

  void top_json(std::string& o) {
    bool first = true;
    for (const auto& t : board.top()) {
      if (!first) o += ',';
      first = false;
      o += '{';
      str(o, "app", t.app);
      o += ',';
      str(o, "group_id", t.group_id);
      o += ',';
      str(o, "group_name", t.name);
      o += ',';
      num(o, "count", static_cast<double>(t.count));
      o += ",\"history\":[";
      for (std::size_t i = 0; i < t.history.size(); ++i) o += (i ? "," : "") + std::to_string(t.history[i]);
      o += "]}";
    }
  }

  void parked_json(std::string& o) {
    bool first = true;
    for (const auto& p : board.parked()) {
      if (!first) o += ',';
      first = false;
      o += '{';
      str(o, "app", p.app);
      o += ',';
      str(o, "group_id", p.group_id);
      o += ',';
      str(o, "group_name", p.name);
      o += ',';
      num(o, "code", static_cast<double>(p.code));
      o += ',';
      str(o, "reason", p.reason);
      o += ',';
      str(o, "time", format_rfc3339_ms(p.time));
      o += '}';
    }
  }

  void sinks_json(std::string& o, const std::vector<delivery::SinkStats>& sinks) {
    bool first = true;
    auto steady_now = std::chrono::steady_clock::now();
    for (const auto& s : sinks) {
      if (!first) o += ',';
      first = false;
      o += '{';
      str(o, "name", s.name);
      o += ',';
      str(o, "type", s.type);
      o += ',';
      num(o, "queue_depth", static_cast<double>(s.queue_depth));
      o += ',';
      num(o, "spooled", static_cast<double>(s.spooled));
      o += ',';
      num(o, "spool_bytes", static_cast<double>(s.spool_bytes));
      o += ',';
      num(o, "delivered", static_cast<double>(s.delivered));
      o += ',';
      num(o, "dropped", static_cast<double>(s.dropped));
      o += ',';
      num(o, "failures", static_cast<double>(s.failures));
      o += ',';
      boolean(o, "healthy", s.healthy);
      o += ',';
      str(o, "last_error", log::redact(s.last_error));
      o += ',';
      auto it = sink_unhealthy_since.find(s.name);
      num(o, "failing_s",
          it == sink_unhealthy_since.end() ? 0.0 : std::chrono::duration<double>(steady_now - it->second).count());
      o += '}';
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
