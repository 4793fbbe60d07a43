#include "app/metrics.hpp"

#include <functional>

#include "groupwatch/admin/exposition.hpp"
#include "groupwatch/tencent/errors.hpp"

namespace groupwatch::app {

using admin::Exposition;
using T = Exposition::Type;

namespace {

// One family with a sample per app (or sink): `value` (a member or a function)
// reads it from each.
template <class Row, class Value>
void per_row(Exposition& e, const std::vector<Row>& rows, std::string_view label, std::string_view name, T type,
             std::string_view help, Value value) {
  e.family(name, type, help);
  for (const auto& r : rows) e.sample(name, {{label, r.name}}, static_cast<double>(std::invoke(value, r)));
}

// Requests by outcome, results and latency: what the app sent and got.
void render_traffic(Exposition& e, const std::vector<AppMetrics>& apps) {
  e.family("groupwatch_requests_total", T::counter,
           "Requests sent, by outcome: ok, the vendor's ErrorCode, or the kind of network failure.");
  for (const auto& m : apps) {
    bool network_kinds = !m.failures_by_kind.empty();
    for (const auto& [code, n] : m.answers_by_code) {
      if (code == tencent::network_error_code && network_kinds) continue;
      std::string outcome = code == 0 ? "ok" : code == tencent::network_error_code ? "network" : std::to_string(code);
      e.sample("groupwatch_requests_total", {{"app", m.name}, {"outcome", outcome}}, static_cast<double>(n));
    }
    for (const auto& [kind, n] : m.failures_by_kind)
      e.sample("groupwatch_requests_total", {{"app", m.name}, {"outcome", kind}}, static_cast<double>(n));
  }
  per_row(e, apps, "app", "groupwatch_results_total", T::counter, "Final results emitted (one per group and cycle).",
          &AppMetrics::results);
  e.family("groupwatch_request_duration_seconds", T::histogram, "Time from sending a request to its answer.");
  std::vector<double> bounds;
  for (double ms : latency_bounds_ms) bounds.push_back(ms / 1000.0);
  for (const auto& m : apps) {
    e.histogram("groupwatch_request_duration_seconds", {{"app", m.name}}, bounds, m.latency_buckets, m.latency_sum_s);
  }
}

// The rate, the cycle, freshness and the groups, per app.
void render_apps(Exposition& e, const std::vector<AppMetrics>& apps) {
  auto per_app = [&](std::string_view name, T type, std::string_view help, auto value) {
    per_row(e, apps, "app", name, type, help, value);
  };
  per_app("groupwatch_retries_total", T::counter, "Requests retried within their cycle.", &AppMetrics::retries);
  per_app("groupwatch_rate_limited_total", T::counter, "Answers saying the app was rate limited.",
          &AppMetrics::rate_limited);
  per_app("groupwatch_limiter_waits_total", T::counter, "Times the dispatcher waited for a rate-limiter permit.",
          &AppMetrics::limiter_waits);
  per_app("groupwatch_qps_effective", T::gauge, "The request rate the limiter currently allows (lowered after 429s).",
          &AppMetrics::qps_effective);
  per_app("groupwatch_qps_cap", T::gauge, "The app's configured request-rate cap.", &AppMetrics::qps_cap);
  per_app("groupwatch_cycle_progress_ratio", T::gauge, "Share of the app's groups started in the current cycle.",
          [](const AppMetrics& m) {
            return m.groups == 0
                       ? 0.0
                       : std::min(1.0, static_cast<double>(m.cycle_dispatched) / static_cast<double>(m.groups));
          });
  per_app("groupwatch_cycle_overruns_total", T::counter, "Cycles that did not finish within the poll interval.",
          &AppMetrics::overruns);
  per_app("groupwatch_clock_steps_total", T::counter, "Wall-clock steps seen by the schedule (NTP, VM resume).",
          &AppMetrics::clock_steps);
  per_app("groupwatch_slots_skipped_total", T::counter,
          "Slots skipped after a wall-clock step forward (not caught up).", &AppMetrics::slots_skipped);
  e.family("groupwatch_result_age_seconds", T::gauge,
           "Age of each active group's newest OK count (since it joined, before its first), across the app's "
           "groups: median, 99th percentile and oldest.");
  for (const auto& m : apps) {
    e.sample("groupwatch_result_age_seconds", {{"app", m.name}, {"quantile", "0.5"}}, m.fresh_p50_s);
    e.sample("groupwatch_result_age_seconds", {{"app", m.name}, {"quantile", "0.99"}}, m.fresh_p99_s);
    e.sample("groupwatch_result_age_seconds", {{"app", m.name}, {"quantile", "1"}}, m.fresh_max_s);
  }
  per_app("groupwatch_groups", T::gauge, "Groups watched.", &AppMetrics::groups);
  per_app("groupwatch_discovered_groups", T::gauge, "Groups that discovery found and the app watches.",
          &AppMetrics::discovered);
  e.family("groupwatch_discovery_listings_total", T::counter,
           "Group listings (discover:) that completed (result=ok) or failed part-way (result=failed).");
  for (const auto& m : apps) {
    e.sample("groupwatch_discovery_listings_total", {{"app", m.name}, {"result", "ok"}},
             static_cast<double>(m.listings_ok));
    e.sample("groupwatch_discovery_listings_total", {{"app", m.name}, {"result", "failed"}},
             static_cast<double>(m.listings_failed));
  }
  per_app("groupwatch_discovery_last_success_timestamp_seconds", T::gauge,
          "When the app's last group listing completed (unix time; 0: never).", &AppMetrics::last_listing_unix);
  per_app("groupwatch_parked_groups", T::gauge, "Groups parked after a permanent error (10007, 10010, 10015).",
          &AppMetrics::parked);
  per_app("groupwatch_app_stopped", T::gauge, "1 when the app stopped polling (misconfiguration), else 0.",
          &AppMetrics::stopped);
  per_app("groupwatch_usersig_renewals_total", T::counter, "UserSigs generated.", &AppMetrics::usersig_renewals);
  per_app("groupwatch_connections_open", T::gauge, "TLS connections open to the app's endpoint.",
          &AppMetrics::connections_open);
  per_app("groupwatch_handshakes_total", T::counter, "TLS handshakes completed.", &AppMetrics::handshakes);
  per_app("groupwatch_connections_opened_total", T::counter, "TCP connections opened.",
          &AppMetrics::connections_opened);
}

void render_sinks(Exposition& e, const std::vector<delivery::SinkStats>& sinks) {
  auto per_sink = [&](std::string_view name, T type, std::string_view help, auto value) {
    per_row(e, sinks, "sink", name, type, help, value);
  };
  per_sink("groupwatch_sink_queue_depth", T::gauge, "Results held in memory for the sink.",
           &delivery::SinkStats::queue_depth);
  per_sink("groupwatch_sink_spool_bytes", T::gauge, "Size of the sink's on-disk spool.",
           &delivery::SinkStats::spool_bytes);
  per_sink("groupwatch_sink_delivered_total", T::counter, "Results the sink took.", &delivery::SinkStats::delivered);
  per_sink("groupwatch_sink_dropped_total", T::counter, "Results dropped at the spool cap.",
           &delivery::SinkStats::dropped);
  per_sink("groupwatch_sink_failures_total", T::counter, "Failed write attempts.", &delivery::SinkStats::failures);
  per_sink("groupwatch_sink_healthy", T::gauge, "1 when the sink's last write succeeded.",
           &delivery::SinkStats::healthy);
}

// Per app name (the status page's and the other metrics' label): the
// SDKAppID's holding.
void render_cluster(Exposition& e, const std::vector<AppMetrics>& apps, const cluster::ClusterStatus& c) {
  auto of = [&](const AppMetrics& m) -> const cluster::ClusterStatus::App* {
    for (const auto& a : c.apps)
      if (a.sdkappid == m.sdkappid) return &a;
    return nullptr;
  };
  e.family("groupwatch_cluster_holder", T::gauge, "1 while this instance polls the app (holds its SDKAppID), else 0.");
  for (const auto& m : apps) e.sample("groupwatch_cluster_holder", {{"app", m.name}}, m.held ? 1 : 0);
  e.family("groupwatch_cluster_handovers_total", T::counter,
           "Times this instance took the app's SDKAppID (acquired), gave it away (released) or lost it (lost).");
  for (const auto& m : apps) {
    const auto* a = of(m);
    e.sample("groupwatch_cluster_handovers_total", {{"app", m.name}, {"kind", "acquired"}}, a ? a->acquired : 0);
    e.sample("groupwatch_cluster_handovers_total", {{"app", m.name}, {"kind", "released"}}, a ? a->released : 0);
    e.sample("groupwatch_cluster_handovers_total", {{"app", m.name}, {"kind", "lost"}}, a ? a->lost : 0);
  }
  e.family("groupwatch_cluster_lease_age_seconds", T::gauge, "Since the last successful lease renewal was sent.");
  e.sample("groupwatch_cluster_lease_age_seconds", {}, c.lease_age_s);
  e.family("groupwatch_cluster_renew_failures_total", T::counter, "Lease renewals that no etcd endpoint answered.");
  e.sample("groupwatch_cluster_renew_failures_total", {}, c.renew_failures);
  e.family("groupwatch_cluster_members", T::gauge, "Live instances under the prefix, as last read.");
  e.sample("groupwatch_cluster_members", {}, c.members.size());
  e.family("groupwatch_cluster_etcd_reachable", T::gauge, "1 while the lease cannot have lapsed at etcd.");
  e.sample("groupwatch_cluster_etcd_reachable", {}, c.reachable ? 1 : 0);
}

}  // namespace

std::string render_metrics(const std::vector<AppMetrics>& apps, const std::vector<delivery::SinkStats>& sinks,
                           const LagStats* lag, const cluster::ClusterStatus* cluster) {
  Exposition e;
  render_traffic(e, apps);
  render_apps(e, apps);
  render_sinks(e, sinks);
  if (cluster) render_cluster(e, apps, *cluster);
  if (lag) {
    e.family("groupwatch_loop_lag_seconds", T::gauge,
             "How late the event loop ran its timers over the last minute (probe every 50 ms).");
    e.sample("groupwatch_loop_lag_seconds", {{"quantile", "0.5"}}, lag->p50_s);
    e.sample("groupwatch_loop_lag_seconds", {{"quantile", "0.99"}}, lag->p99_s);
    e.sample("groupwatch_loop_lag_seconds", {{"quantile", "1"}}, lag->max_s);
  }
  e.family("groupwatch_build_info", T::gauge, "Always 1; the version is a label.");
  e.sample("groupwatch_build_info", {{"version", GW_VERSION}}, 1);
  return e.str();
}

}  // namespace groupwatch::app
