// Health says the truth: /readyz answers 503, one reason a line, while an
// app is stopped or a sink has failed for longer than admin.sink_failing_after.
#include <gtest/gtest.h>

#include "fault/fault.hpp"

using namespace gwfault;

TEST(Health, ReadyzNamesAStoppedAppAndAFailingSink) {
  TempDir dir;
  Emulator e = emulator_for(dir, 50);
  Cfg c = config_for(e, dir);
  c.interval = "5s";
  // A second app whose SDKAppID the endpoint does not serve: 70016, stopped.
  c.extra_app = "  - name: wrong-region\n    sdkappid: 1400000999\n    admin: administrator\n    secret_key: " +
                std::string(kKey) + "\n    endpoint: " + e.endpoint() + "\n    ca_file: " + c.ca_file +
                "\n    group_files: [" + dir.file("groups.txt") + "]\n";
  const auto admin = admin_on_free_port(c, "  sink_failing_after: 2s\n");
  c.sinks = {ndjson_sink(dir.file("out.ndjson")), postgres_sink("host=127.0.0.1 port=1 dbname=x connect_timeout=1")};
  Process gw = start_run(dir, c);
  HttpReply g;
  // The app stops at its first answer; the sink has failed for 2 s a little later.
  for (int i = 0; i < 100; ++i) {
    g = http_get(admin, "/readyz");
    if (g.body.find("sink 'postgres'") != std::string::npos) break;
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(g.status, 503) << g.body;
  EXPECT_NE(g.body.find("app 'wrong-region' stopped: 70016"), std::string::npos) << g.body;
  EXPECT_NE(g.body.find("sink 'postgres' has been failing for"), std::string::npos) << g.body;
  EXPECT_EQ(http_get(admin, "/healthz").status, 200);  // the process runs
  expect_clean_exit(gw, dir);
}

// A watchlist cut from 10 to 5 groups: the removed groups' Prometheus series
// are gone after the reload (they used to stay for ever).
TEST(Health, PrometheusSeriesOfRemovedGroupsGo) {
  TempDir dir;
  emu::Options o;
  auto ids = groups_into(dir, o, "groups.txt", 10);
  Emulator e(o);
  Cfg c = config_for(e, dir, "2s");
  const auto prom = free_port();
  c.sinks = {"  - type: prometheus\n    listen: 127.0.0.1:" + std::to_string(prom) + "\n"};
  Process gw = start_run(dir, c);
  auto series = [&] {
    auto body = http_get(prom, "/metrics").body;
    std::size_t n = 0;
    for (auto& id : ids) n += body.find("group_id=\"" + id + "\"") != std::string::npos;
    return n;
  };
  for (int i = 0; i < 100 && series() < 10; ++i) std::this_thread::sleep_for(100ms);
  ASSERT_EQ(series(), 10u);
  std::string kept;
  for (std::size_t i = 0; i < 5; ++i) kept += ids[i] + "\n";
  dir.write("groups.txt", kept);
  gw.signal(SIGHUP);
  std::this_thread::sleep_for(5s);  // two cycles
  auto body = http_get(prom, "/metrics").body;
  for (std::size_t i = 0; i < 10; ++i)
    EXPECT_EQ(body.find("group_id=\"" + ids[i] + "\"") != std::string::npos, i < 5) << ids[i];
  expect_clean_exit(gw, dir);
}

// Freshness: groupwatch_result_age_seconds follows the counts. With every
// group answering the oldest count is younger than two intervals; while the
// endpoint is down the counts age past that; once it is back they are fresh
// again. The bounds are whole intervals apart: this checks the metric's
// meaning, not how fast polling is.
TEST(Health, ResultAgeGrowsWhileTheEndpointIsDownAndRecovers) {
  AdminRun r(40, "2s");
  auto oldest = [&] {
    const auto body = http_get(r.admin, "/metrics").body;
    const std::string key = "groupwatch_result_age_seconds{app=\"test\",quantile=\"1\"} ";
    auto at = body.find(key);
    return at == std::string::npos ? -1.0 : std::atof(body.c_str() + at + key.size());
  };
  // Every group answered once: the oldest count is younger than 2 intervals.
  EXPECT_TRUE(wait_for(
      [&] { return count_of(read_file(r.dir.file("out.ndjson")), "\n") >= 80 && oldest() >= 0 && oldest() < 4.0; },
      30s))
      << oldest();
  r.e.server().set_down_for(7s);
  EXPECT_TRUE(wait_for([&] { return oldest() > 5.0; }, 10s)) << oldest();
  EXPECT_TRUE(wait_for([&] { return oldest() < 4.0; }, 20s)) << oldest();
  expect_clean_exit(r.gw, r.dir);
}
