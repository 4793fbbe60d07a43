#include "app/metrics.hpp"

#include <algorithm>
#include <functional>

#include "groupwatch/admin/exposition.hpp"
#include "groupwatch/tencent/errors.hpp"

namespace groupwatch::app {

using admin::Exposition;
using delivery::SinkStats;
using T = Exposition::Type;

namespace {

// What the samples are read from.
struct Sources {
  const std::vector<AppMetrics>& apps;
  const std::vector<SinkStats>& sinks;
  const LagStats* lag;
  const cluster::ClusterStatus* cluster;
};

// Writes family `name`'s samples.
using Samples = void (*)(Exposition& e, std::string_view name, const Sources& s);

// A sample per app (per sink): `value`, a member or a function, reads it.
template <auto value>
void per_app(Exposition& e, std::string_view name, const Sources& s) {
  for (const auto& m : s.apps) e.sample(name, {{"app", m.name}}, static_cast<double>(std::invoke(value, m)));
}
template <auto value>
void per_sink(Exposition& e, std::string_view name, const Sources& s) {
  for (const auto& k : s.sinks) e.sample(name, {{"sink", k.name}}, static_cast<double>(std::invoke(value, k)));
}

void requests_by_outcome(Exposition& e, std::string_view name, const Sources& s) {
  for (const auto& m : s.apps) {
    bool network_kinds = !m.failures_by_kind.empty();
    for (const auto& [code, n] : m.answers_by_code) {
      if (code == tencent::network_error_code && network_kinds) continue;
      std::string outcome = code == 0 ? "ok" : code == tencent::network_error_code ? "network" : std::to_string(code);
      e.sample(name, {{"app", m.name}, {"outcome", outcome}}, static_cast<double>(n));
    }
    for (const auto& [kind, n] : m.failures_by_kind)
      e.sample(name, {{"app", m.name}, {"outcome", kind}}, static_cast<double>(n));
  }
}

void request_latency(Exposition& e, std::string_view name, const Sources& s) {
  std::vector<double> bounds;
  for (double ms : latency_bounds_ms) bounds.push_back(ms / 1000.0);
  for (const auto& m : s.apps) e.histogram(name, {{"app", m.name}}, bounds, m.latency_buckets, m.latency_sum_s);
}

double cycle_progress(const AppMetrics& m) {
  if (m.groups == 0) return 0.0;
  return std::min(1.0, static_cast<double>(m.cycle_dispatched) / static_cast<double>(m.groups));
}

void result_age(Exposition& e, std::string_view name, const Sources& s) {
  for (const auto& m : s.apps) {
    e.sample(name, {{"app", m.name}, {"quantile", "0.5"}}, m.fresh_p50_s);
    e.sample(name, {{"app", m.name}, {"quantile", "0.99"}}, m.fresh_p99_s);
    e.sample(name, {{"app", m.name}, {"quantile", "1"}}, m.fresh_max_s);
  }
}

void listings(Exposition& e, std::string_view name, const Sources& s) {
  for (const auto& m : s.apps) {
    e.sample(name, {{"app", m.name}, {"result", "ok"}}, static_cast<double>(m.listings_ok));
    e.sample(name, {{"app", m.name}, {"result", "failed"}}, static_cast<double>(m.listings_failed));
  }
}

// The cluster's figures, per app name (the other metrics' label) where they
// are the SDKAppID's.
const cluster::ClusterStatus::App* holding_of(const Sources& s, const AppMetrics& m) {
  for (const auto& a : s.cluster->apps)
    if (a.sdkappid == m.sdkappid) return &a;
  return nullptr;
}
void cluster_holder(Exposition& e, std::string_view name, const Sources& s) {
  for (const auto& m : s.apps) e.sample(name, {{"app", m.name}}, m.held ? 1 : 0);
}
void cluster_handovers(Exposition& e, std::string_view name, const Sources& s) {
  for (const auto& m : s.apps) {
    const auto* a = holding_of(s, m);
    e.sample(name, {{"app", m.name}, {"kind", "acquired"}}, a ? a->acquired : 0);
    e.sample(name, {{"app", m.name}, {"kind", "released"}}, a ? a->released : 0);
    e.sample(name, {{"app", m.name}, {"kind", "lost"}}, a ? a->lost : 0);
  }
}
template <auto value>
void of_cluster(Exposition& e, std::string_view name, const Sources& s) {
  e.sample(name, {}, static_cast<double>(std::invoke(value, *s.cluster)));
}
std::size_t members(const cluster::ClusterStatus& c) {
  return c.members.size();
}

void loop_lag(Exposition& e, std::string_view name, const Sources& s) {
  e.sample(name, {{"quantile", "0.5"}}, s.lag->p50_s);
  e.sample(name, {{"quantile", "0.99"}}, s.lag->p99_s);
  e.sample(name, {{"quantile", "1"}}, s.lag->max_s);
}

void build_info(Exposition& e, std::string_view name, const Sources&) {
  e.sample(name, {{"version", GW_VERSION}}, 1);
}

// A family is written when what it reads is there.
enum class Needs { nothing, cluster, lag };

struct Family {
  std::string_view name;
  T type;
  Samples samples;
  std::string_view help;
  Needs needs = Needs::nothing;
};

// Every family /metrics writes, in the order written, a row each: a table reads
// best as one list (docs/operations.md has the same list for operators; a test
// holds the two together). Rows may be as long as their help text.
// clang-format off
constexpr Family families[] = {
    // Per app, each written by a function of its own.
    {"groupwatch_requests_total", T::counter, requests_by_outcome, "Requests sent, by outcome: ok, the vendor's ErrorCode, or the kind of network failure."},
    {"groupwatch_request_duration_seconds", T::histogram, request_latency, "Time from sending a request to its answer."},
    {"groupwatch_cycle_progress_ratio", T::gauge, per_app<cycle_progress>, "Share of the app's groups started in the current cycle."},
    {"groupwatch_result_age_seconds", T::gauge, result_age, "Age of each active group's newest OK count (since it joined, before its first), across the app's groups: median, 99th percentile and oldest."},
    {"groupwatch_discovery_listings_total", T::counter, listings, "Group listings (discover:) that completed (result=ok) or failed part-way (result=failed)."},
    // Per app, a member each.
    {"groupwatch_results_total", T::counter, per_app<&AppMetrics::results>, "Final results emitted (one per group and cycle)."},
    {"groupwatch_retries_total", T::counter, per_app<&AppMetrics::retries>, "Requests retried within their cycle."},
    {"groupwatch_rate_limited_total", T::counter, per_app<&AppMetrics::rate_limited>, "Answers saying the app was rate limited."},
    {"groupwatch_limiter_waits_total", T::counter, per_app<&AppMetrics::limiter_waits>, "Times the dispatcher waited for a rate-limiter permit."},
    {"groupwatch_qps_effective", T::gauge, per_app<&AppMetrics::qps_effective>, "The request rate the limiter currently allows (lowered after 429s)."},
    {"groupwatch_qps_cap", T::gauge, per_app<&AppMetrics::qps_cap>, "The app's configured request-rate cap."},
    {"groupwatch_cycle_overruns_total", T::counter, per_app<&AppMetrics::overruns>, "Cycles that did not finish within the poll interval."},
    {"groupwatch_clock_steps_total", T::counter, per_app<&AppMetrics::clock_steps>, "Wall-clock steps seen by the schedule (NTP, VM resume)."},
    {"groupwatch_slots_skipped_total", T::counter, per_app<&AppMetrics::slots_skipped>, "Slots skipped after a wall-clock step forward (not caught up)."},
    {"groupwatch_groups", T::gauge, per_app<&AppMetrics::groups>, "Groups watched."},
    {"groupwatch_discovered_groups", T::gauge, per_app<&AppMetrics::discovered>, "Groups that discovery found and the app watches."},
    {"groupwatch_discovery_last_success_timestamp_seconds", T::gauge, per_app<&AppMetrics::last_listing_unix>, "When the app's last group listing completed (unix time; 0: never)."},
    {"groupwatch_parked_groups", T::gauge, per_app<&AppMetrics::parked>, "Groups parked after a permanent error (10007, 10010, 10015)."},
    {"groupwatch_app_stopped", T::gauge, per_app<&AppMetrics::stopped>, "1 when the app stopped polling (misconfiguration), else 0."},
    {"groupwatch_usersig_renewals_total", T::counter, per_app<&AppMetrics::usersig_renewals>, "UserSigs generated."},
    {"groupwatch_connections_open", T::gauge, per_app<&AppMetrics::connections_open>, "TLS connections open to the app's endpoint."},
    {"groupwatch_handshakes_total", T::counter, per_app<&AppMetrics::handshakes>, "TLS handshakes completed."},
    {"groupwatch_connections_opened_total", T::counter, per_app<&AppMetrics::connections_opened>, "TCP connections opened."},
    // Per sink, a member each.
    {"groupwatch_sink_queue_depth", T::gauge, per_sink<&SinkStats::queue_depth>, "Results held in memory for the sink."},
    {"groupwatch_sink_spool_bytes", T::gauge, per_sink<&SinkStats::spool_bytes>, "Size of the sink's on-disk spool."},
    {"groupwatch_sink_delivered_total", T::counter, per_sink<&SinkStats::delivered>, "Results the sink took."},
    {"groupwatch_sink_dropped_total", T::counter, per_sink<&SinkStats::dropped>, "Results dropped at the spool cap."},
    {"groupwatch_sink_failures_total", T::counter, per_sink<&SinkStats::failures>, "Failed write attempts."},
    {"groupwatch_sink_healthy", T::gauge, per_sink<&SinkStats::healthy>, "1 when the sink's last write succeeded."},
    // With cluster: set.
    {"groupwatch_cluster_holder", T::gauge, cluster_holder, "1 while this instance polls the app (holds its SDKAppID), else 0.", Needs::cluster},
    {"groupwatch_cluster_handovers_total", T::counter, cluster_handovers, "Times this instance took the app's SDKAppID (acquired), gave it away (released) or lost it (lost).", Needs::cluster},
    {"groupwatch_cluster_lease_age_seconds", T::gauge, of_cluster<&cluster::ClusterStatus::lease_age_s>, "Since the last successful lease renewal was sent.", Needs::cluster},
    {"groupwatch_cluster_renew_failures_total", T::counter, of_cluster<&cluster::ClusterStatus::renew_failures>, "Lease renewals that no etcd endpoint answered.", Needs::cluster},
    {"groupwatch_cluster_members", T::gauge, of_cluster<members>, "Live instances under the prefix, as last read.", Needs::cluster},
    {"groupwatch_cluster_etcd_reachable", T::gauge, of_cluster<&cluster::ClusterStatus::reachable>, "1 while the lease cannot have lapsed at etcd.", Needs::cluster},
    // The daemon as a whole.
    {"groupwatch_loop_lag_seconds", T::gauge, loop_lag, "How late the event loop ran its timers over the last minute (probe every 50 ms).", Needs::lag},
    {"groupwatch_build_info", T::gauge, build_info, "Always 1; the version is a label."},
};
// clang-format on

}  // namespace

std::string render_metrics(const std::vector<AppMetrics>& apps, const std::vector<delivery::SinkStats>& sinks,
                           const LagStats* lag, const cluster::ClusterStatus* cluster) {
  const Sources sources{apps, sinks, lag, cluster};
  Exposition e;
  for (const auto& f : families) {
    if ((f.needs == Needs::cluster && !cluster) || (f.needs == Needs::lag && !lag)) continue;
    e.family(f.name, f.type, f.help);
    f.samples(e, f.name, sources);
  }
  return e.str();
}

}  // namespace groupwatch::app
