#pragma once
// The status document: /api/status, which the status page draws. Built as a
// Boost.JSON value from what the engine, the sinks, the board and the
// cluster report, then serialized.
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "app/board.hpp"
#include "groupwatch/admin/server.hpp"
#include "groupwatch/app/engine.hpp"
#include "groupwatch/cluster/coordinator.hpp"
#include "groupwatch/delivery/fanout.hpp"

namespace groupwatch::app {

/// One app's counters at one moment, for the page's rate charts.
struct Sample {
  double t = 0;  // unix seconds
  std::uint64_t requests = 0, results = 0, results_ok = 0;
  double cap = 0, effective = 0;
};

struct StatusView {
  double now = 0;  // unix seconds
  double uptime_s = 0, interval_s = 0, sample_s = 0;
  admin::Readiness ready;
  std::vector<AppMetrics> apps;
  std::map<std::string, std::vector<Sample>> history;  // per app, oldest first
  std::vector<GroupBoard::Top> top;
  std::vector<GroupBoard::Parked> parked;
  std::vector<delivery::SinkStats> sinks;
  std::map<std::string, double> sinks_failing_s;  // per failing sink: for how long
  std::optional<cluster::ClusterStatus> cluster;
};

std::string status_document(const StatusView& v);

}  // namespace groupwatch::app
