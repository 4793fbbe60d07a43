#pragma once
// The daemon's self-metrics (/metrics).
#include <string>
#include <vector>

#include "app/loop_lag.hpp"
#include "groupwatch/app/engine.hpp"
#include "groupwatch/cluster/coordinator.hpp"
#include "groupwatch/delivery/fanout.hpp"

namespace groupwatch::app {

/// The daemon's self-metrics in the Prometheus text format (for /metrics).
std::string render_metrics(const std::vector<AppMetrics>& apps, const std::vector<delivery::SinkStats>& sinks,
                           const LagStats* lag = nullptr, const cluster::ClusterStatus* cluster = nullptr);

}  // namespace groupwatch::app
