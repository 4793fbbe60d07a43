// The app layer's side of the admin server: the self-metrics and the
// per-group board behind the status page.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "app/hooks.hpp"

namespace {

using namespace groupwatch;
using app::GroupBoard;

delivery::Result ok(const std::string& group, std::uint64_t n, const std::string& app = "prod") {
  delivery::Result r;
  r.time = std::chrono::system_clock::now();
  r.app = app;
  r.group_id = group;
  r.online_member_num = n;
  return r;
}
delivery::Result fail(const std::string& group, std::int64_t code) {
  delivery::Result r;
  r.time = std::chrono::system_clock::now();
  r.app = "prod";
  r.group_id = group;
  r.error_code = code;
  r.error_info = "whatever";
  return r;
}

TEST(GroupBoard, KeepsTheTopGroupsByLatestCount) {
  GroupBoard b(3, 4, 10);
  for (int i = 0; i < 50; ++i) b.observe(ok("g" + std::to_string(i), static_cast<std::uint64_t>(i)));
  auto top = b.top();
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].group_id, "g49");
  EXPECT_EQ(top[1].group_id, "g48");
  EXPECT_EQ(top[2].group_id, "g47");
  EXPECT_LE(b.candidates(), 6u) << "bounded candidate set, not every group";
}

// The board's smallest count is remembered between results: a count that
// drops on the board makes room for the next bigger group at once.
TEST(GroupBoard, AGroupWhoseCountDropsGivesWayToABiggerOne) {
  GroupBoard b(1, 4, 10);  // two candidates
  b.observe(ok("a", 10));
  b.observe(ok("b", 20));
  b.observe(ok("c", 5));  // smaller than both: not taken
  b.observe(ok("a", 1));  // a drops on the board
  b.observe(ok("c", 5));  // now bigger than a: c takes a's place
  b.observe(ok("b", 0));  // b drops below c
  auto top = b.top();
  ASSERT_EQ(top.size(), 1u);
  EXPECT_EQ(top[0].group_id, "c");
  EXPECT_EQ(top[0].history, (std::vector<std::uint64_t>{5}));
  EXPECT_EQ(b.candidates(), 2u);
}

TEST(GroupBoard, KeepsABoundedHistoryPerTopGroup) {
  GroupBoard b(2, 4, 10);
  for (std::uint64_t n : {10, 20, 30, 40, 50, 60}) b.observe(ok("big", n * 100));
  b.observe(ok("small", 1));
  auto top = b.top();
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].group_id, "big");
  EXPECT_EQ(top[0].count, 6000u);
  EXPECT_EQ(top[0].history, (std::vector<std::uint64_t>{3000, 4000, 5000, 6000}));
  EXPECT_EQ(top[1].history, (std::vector<std::uint64_t>{1}));
}

TEST(GroupBoard, SeparatesAppsWithTheSameGroupId) {
  GroupBoard b(5, 4, 10);
  b.observe(ok("g", 5, "a"));
  b.observe(ok("g", 7, "b"));
  auto top = b.top();
  ASSERT_EQ(top.size(), 2u);
  EXPECT_EQ(top[0].app, "b");
  EXPECT_EQ(top[1].app, "a");
}

TEST(GroupBoard, ListsParkedGroupsWithTheirReasonAndForgetsThemWhenTheyAnswer) {
  GroupBoard b(5, 4, 2);
  b.observe(ok("dissolved", 100));
  b.observe(fail("dissolved", 10010));
  b.observe(fail("transient", 10002));  // not a parking code
  b.observe(fail("missing", 10015));
  auto parked = b.parked();
  ASSERT_EQ(parked.size(), 2u);
  EXPECT_EQ(parked[0].group_id, "missing");  // newest first
  EXPECT_EQ(parked[1].group_id, "dissolved");
  EXPECT_EQ(parked[1].code, 10010);
  EXPECT_FALSE(parked[1].reason.empty());
  EXPECT_TRUE(b.top().empty()) << "a parked group leaves the top list";

  b.observe(fail("third", 10007));  // bounded: the oldest goes
  parked = b.parked();
  ASSERT_EQ(parked.size(), 2u);
  EXPECT_EQ(parked[0].group_id, "third");
  EXPECT_EQ(parked[1].group_id, "missing");

  b.observe(fail("missing", 10002));  // a failure that does not park: still parked, in its place
  parked = b.parked();
  ASSERT_EQ(parked.size(), 2u);
  EXPECT_EQ(parked[0].group_id, "third");

  b.observe(ok("missing", 3));  // answered again after a recheck
  ASSERT_EQ(b.parked().size(), 1u);
  EXPECT_EQ(b.parked()[0].group_id, "third");
}

app::AppMetrics metrics_for(const std::string& name) {
  app::AppMetrics m;
  m.name = name;
  m.qps_cap = 200;
  m.qps_effective = 150;
  m.groups = 1000;
  m.cycle_dispatched = 250;
  m.requests = 300;
  m.results = 280;
  m.answers_by_code = {{0, 270}, {10002, 5}, {10010, 1}};
  m.failures_by_kind = {{"timeout", 3}, {"http_502", 2}};
  m.latency_buckets.assign(std::size(app::latency_bounds_ms) + 1, 0);
  m.latency_buckets[0] = 10;
  m.latency_buckets.back() = 2;
  m.latency_sum_s = 12.5;
  m.stopped = true;
  return m;
}

TEST(SelfMetrics, NamesEveryRequiredSeries) {
  delivery::SinkStats s;
  s.name = "ndjson";
  s.type = "ndjson";
  s.queue_depth = 7;
  s.healthy = false;
  s.last_error = "disk full";
  auto text = app::render_metrics({metrics_for("prod-sg")}, {s});
  for (const char* name : {"groupwatch_requests_total",
                           "groupwatch_results_total",
                           "groupwatch_request_duration_seconds",
                           "groupwatch_retries_total",
                           "groupwatch_rate_limited_total",
                           "groupwatch_limiter_waits_total",
                           "groupwatch_qps_effective",
                           "groupwatch_qps_cap",
                           "groupwatch_cycle_progress_ratio",
                           "groupwatch_cycle_overruns_total",
                           "groupwatch_groups",
                           "groupwatch_parked_groups",
                           "groupwatch_app_stopped",
                           "groupwatch_sink_queue_depth",
                           "groupwatch_sink_spool_bytes",
                           "groupwatch_sink_delivered_total",
                           "groupwatch_sink_dropped_total",
                           "groupwatch_sink_failures_total",
                           "groupwatch_sink_healthy",
                           "groupwatch_usersig_renewals_total",
                           "groupwatch_connections_open",
                           "groupwatch_handshakes_total",
                           "groupwatch_connections_opened_total",
                           "groupwatch_build_info"}) {
    EXPECT_NE(text.find(std::string("# TYPE ") + name + " "), std::string::npos) << name;
  }
  EXPECT_NE(text.find("groupwatch_requests_total{app=\"prod-sg\",outcome=\"ok\"} 270\n"), std::string::npos) << text;
  EXPECT_NE(text.find("groupwatch_requests_total{app=\"prod-sg\",outcome=\"10002\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("groupwatch_requests_total{app=\"prod-sg\",outcome=\"timeout\"} 3\n"), std::string::npos);
  EXPECT_NE(text.find("groupwatch_requests_total{app=\"prod-sg\",outcome=\"http_502\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("groupwatch_cycle_progress_ratio{app=\"prod-sg\"} 0.25\n"), std::string::npos);
  EXPECT_NE(text.find("groupwatch_app_stopped{app=\"prod-sg\"} 1\n"), std::string::npos);
  EXPECT_NE(text.find("groupwatch_request_duration_seconds_bucket{app=\"prod-sg\",le=\"0.005\"} 10\n"),
            std::string::npos);
  EXPECT_NE(text.find("groupwatch_request_duration_seconds_bucket{app=\"prod-sg\",le=\"+Inf\"} 12\n"),
            std::string::npos);
  EXPECT_NE(text.find("groupwatch_request_duration_seconds_count{app=\"prod-sg\"} 12\n"), std::string::npos);
  EXPECT_NE(text.find("groupwatch_sink_queue_depth{sink=\"ndjson\"} 7\n"), std::string::npos);
  EXPECT_NE(text.find("groupwatch_sink_healthy{sink=\"ndjson\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("groupwatch_build_info{version=\"" GW_VERSION "\"} 1\n"), std::string::npos);
  EXPECT_EQ(text.find("disk full"), std::string::npos) << "errors stay out of metrics";
}

TEST(SelfMetrics, EveryLineIsValidExposition) {
  auto text = app::render_metrics({metrics_for("a\"b"), metrics_for("c")}, {});
  std::regex sample(
      R"re(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\\n]|\\.)*",?)*\})? [-+0-9.eInfNa]+$)re");
  std::regex comment(R"(^# (HELP|TYPE) [a-zA-Z_:][a-zA-Z0-9_:]* .*$)");
  std::set<std::string> typed;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto nl = text.find('\n', pos);
    ASSERT_NE(nl, std::string::npos) << "the exposition ends with a newline";
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    if (line.rfind("# ", 0) == 0) {
      EXPECT_TRUE(std::regex_match(line, comment)) << line;
      if (line.rfind("# TYPE ", 0) == 0) {
        auto name = line.substr(7, line.find(' ', 7) - 7);
        EXPECT_TRUE(typed.insert(name).second) << "family declared twice: " << name;
      }
    } else {
      EXPECT_TRUE(std::regex_match(line, sample)) << line;
    }
  }
  EXPECT_NE(text.find("app=\"a\\\"b\""), std::string::npos);
}

// Operators read the families in docs/operations.md: each one /metrics can
// write (with a cluster and the loop-lag probe too) is in its tables, with the
// type /metrics gives it.
TEST(SelfMetrics, EveryFamilyIsInTheOperatorsGuideWithItsType) {
  std::map<std::string, std::string> documented;  // name -> type
  std::ifstream guide(GW_SOURCE_DIR "/docs/operations.md");
  ASSERT_TRUE(guide) << "docs/operations.md";
  const std::regex row(R"re(^\| `(groupwatch_[a-z_]+)[`{][^|]*\| (\w+) \|.*)re");
  std::smatch m;
  for (std::string line; std::getline(guide, line);)
    if (std::regex_match(line, m, row)) documented[m[1]] = m[2];

  const app::LagStats lag;
  const cluster::ClusterStatus cluster;
  std::istringstream text(app::render_metrics({metrics_for("a")}, {delivery::SinkStats{}}, &lag, &cluster));
  const std::regex type_line(R"(^# TYPE (\S+) (\S+)$)");
  std::set<std::string> written;
  for (std::string line; std::getline(text, line);) {
    if (!std::regex_match(line, m, type_line)) continue;
    written.insert(m[1]);
    auto it = documented.find(m[1]);
    if (it == documented.end())
      ADD_FAILURE() << m[1] << " is not in docs/operations.md's tables";
    else
      EXPECT_EQ(it->second, m[2]) << m[1] << "'s type in docs/operations.md";
  }
  for (const char* name : {"groupwatch_loop_lag_seconds", "groupwatch_cluster_members", "groupwatch_sink_healthy"})
    EXPECT_TRUE(written.contains(name)) << name << " was not written";
}

}  // namespace
