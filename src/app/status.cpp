#include "app/status.hpp"

#include <cmath>

#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <boost/json/value_from.hpp>

#include "groupwatch/tencent/errors.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::app {
namespace {

namespace json = boost::json;

// What is not finite is null; a whole number is written as one (Boost.JSON
// writes every double in its E form: 200.0 would be 2E2).
json::value num(double v) {
  if (!std::isfinite(v)) return nullptr;
  if (v == std::trunc(v) && std::fabs(v) < 9e15) return static_cast<std::int64_t>(v);
  return v;
}

// The charts' points: to the thousandth, as the page has always had them.
json::value point(double v) {
  return num(std::round(v * 1000) / 1000);
}

// Rates between consecutive samples, plus a live point since the last one.
json::object history_value(std::vector<Sample> s, const AppMetrics& m, double now) {
  if (s.empty() || now - s.back().t >= 1.0)
    s.push_back(Sample{now, m.requests, m.results, m.results_ok, m.qps_cap, m.qps_effective});
  json::array t, rate, ok, err, cap, eff;
  auto per_s = [](std::uint64_t a, std::uint64_t b, double dt) {
    return point(a >= b ? static_cast<double>(a - b) / dt : 0.0);
  };
  for (std::size_t i = 1; i < s.size(); ++i) {
    const Sample &a = s[i], &b = s[i - 1];
    const double dt = a.t - b.t;
    if (dt <= 0) continue;
    t.push_back(point(a.t));
    rate.push_back(per_s(a.requests, b.requests, dt));
    ok.push_back(per_s(a.results_ok, b.results_ok, dt));
    err.push_back(per_s(a.results - a.results_ok, b.results - b.results_ok, dt));
    cap.push_back(point(a.cap));
    eff.push_back(point(a.effective));
  }
  return {{"t", std::move(t)},     {"rate", std::move(rate)}, {"ok", std::move(ok)},
          {"err", std::move(err)}, {"cap", std::move(cap)},   {"effective", std::move(eff)}};
}

// Answers by code ("ok", "network" or the code) and failures by kind.
json::object outcomes(const AppMetrics& m) {
  json::object o;
  for (const auto& [code, n] : m.answers_by_code) {
    if (code == tencent::network_error_code && !m.failures_by_kind.empty()) continue;
    o[code == 0 ? "ok" : code == tencent::network_error_code ? "network" : std::to_string(code)] = n;
  }
  for (const auto& [kind, n] : m.failures_by_kind) o[kind] = n;
  return o;
}

json::object app_value(const AppMetrics& m, const StatusView& v) {
  auto h = v.history.find(m.name);
  return {{"name", m.name},
          {"sdkappid", m.sdkappid},
          {"qps_cap", num(m.qps_cap)},
          {"qps_effective", num(m.qps_effective)},
          {"groups", m.groups},
          {"parked", m.parked},
          {"fresh_p50_s", num(m.fresh_p50_s)},
          {"fresh_p99_s", num(m.fresh_p99_s)},
          {"fresh_max_s", num(m.fresh_max_s)},
          {"cycle", m.cycle},
          {"cycle_dispatched", m.cycle_dispatched},
          {"requests", m.requests},
          {"results", m.results},
          {"results_ok", m.results_ok},
          {"retries", m.retries},
          {"rate_limited", m.rate_limited},
          {"overruns", m.overruns},
          {"clock_steps", m.clock_steps},
          {"slots_skipped", m.slots_skipped},
          {"in_flight", m.in_flight},
          {"connections_open", m.connections_open},
          {"stopped", m.stopped},
          {"stop_reason", log::redact(m.stop_reason)},
          {"paused", m.paused},
          {"outcomes", outcomes(m)},
          {"history", history_value(h == v.history.end() ? std::vector<Sample>{} : h->second, m, v.now)}};
}

json::object top_value(const GroupBoard::Top& t) {
  return {{"app", t.app},
          {"group_id", t.group_id},
          {"group_name", t.name},
          {"count", t.count},
          {"history", json::array(t.history.begin(), t.history.end())}};
}

json::object parked_value(const GroupBoard::Parked& p) {
  return {{"app", p.app},   {"group_id", p.group_id}, {"group_name", p.name},
          {"code", p.code}, {"reason", p.reason},     {"time", format_rfc3339_ms(p.time)}};
}

json::object sink_value(const delivery::SinkStats& s, const StatusView& v) {
  json::object o = json::value_from(s).as_object();
  o["last_error"] = log::redact(s.last_error);
  auto failing = v.sinks_failing_s.find(s.name);
  o["failing_s"] = num(failing == v.sinks_failing_s.end() ? 0.0 : failing->second);
  return o;
}

json::object cluster_value(const cluster::ClusterStatus& c, const std::vector<AppMetrics>& apps) {
  json::array holds, apps_out;
  for (const auto& m : apps)
    if (m.held) holds.emplace_back(m.name);
  for (const auto& a : c.apps) {
    apps_out.push_back(json::object{{"sdkappid", a.sdkappid},
                                    {"held", a.held},
                                    {"holder", a.holder},
                                    {"acquired", a.acquired},
                                    {"released", a.released},
                                    {"lost", a.lost}});
  }
  return {{"name", c.name},
          {"joined", c.joined},
          {"etcd", c.reachable ? "ok" : "unreachable"},
          {"endpoint", c.endpoint},
          {"lease_age_s", num(c.lease_age_s)},
          {"renew_failures", c.renew_failures},
          {"holds", std::move(holds)},
          {"members", json::array(c.members.begin(), c.members.end())},
          {"apps", std::move(apps_out)}};
}

template <class T, class F>
json::array array_of(const std::vector<T>& items, F value) {
  json::array a;
  a.reserve(items.size());
  for (const auto& item : items) a.push_back(value(item));
  return a;
}

}  // namespace

std::string status_document(const StatusView& v) {
  json::object o{{"version", GW_VERSION},
                 {"time", num(v.now)},
                 {"uptime_s", num(v.uptime_s)},
                 {"interval_s", num(v.interval_s)},
                 {"sample_s", num(v.sample_s)},
                 {"ready", v.ready.ready},
                 {"ready_reason", v.ready.reason},
                 {"apps", array_of(v.apps, [&](const AppMetrics& m) { return app_value(m, v); })},
                 {"top", array_of(v.top, top_value)},
                 {"parked", array_of(v.parked, parked_value)},
                 {"sinks", array_of(v.sinks, [&](const delivery::SinkStats& s) { return sink_value(s, v); })}};
  if (v.cluster) o["cluster"] = cluster_value(*v.cluster, v.apps);
  return json::serialize(o);
}

}  // namespace groupwatch::app
