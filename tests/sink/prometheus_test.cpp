// The prometheus sink: its settings, its exposition, forget(), and a real
// Prometheus server scraping it and answering queries about the values.
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <regex>
#include <set>

#include "helpers.hpp"
#include "sinks/prometheus/prometheus.hpp"
#include "support/servers.hpp"

namespace {

using namespace gw_test;
namespace prom = groupwatch::sinks::prometheus;

delivery::Result counted(const std::string& app, const std::string& group, std::uint64_t n, std::int64_t unix_ms) {
  delivery::Result r;
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(unix_ms));
  r.app = app;
  r.sdkappid = 1400000001;
  r.group_id = group;
  r.online_member_num = n;
  return r;
}

TEST(PrometheusSink, ParsesItsSettings) {
  auto ok = parse_yaml("- type: prometheus\n  listen: 127.0.0.1:9109\n");
  ASSERT_EQ(ok.sinks.size(), 1u) << ok.errors();
  EXPECT_EQ(ok.sinks[0].spec->describe(), "prometheus /metrics on 127.0.0.1:9109");

  auto missing = parse_yaml("- type: prometheus\n");
  EXPECT_TRUE(missing.sinks.empty());
  EXPECT_NE(missing.errors().find("listen"), std::string::npos) << missing.errors();

  auto bad = parse_yaml("- type: prometheus\n  listen: nowhere\n");
  EXPECT_NE(bad.errors().find("'listen' must be HOST:PORT"), std::string::npos) << bad.errors();

  auto unknown = parse_yaml("- type: prometheus\n  listen: 127.0.0.1:1\n  path: /x\n");
  EXPECT_NE(unknown.errors().find("unknown key 'path'"), std::string::npos) << unknown.errors();
}

TEST(PrometheusSink, ServesTheLatestCountAndForgetsParkedGroups) {
  prom::PrometheusSink s("127.0.0.1:0");
  ASSERT_NE(s.port(), 0);
  std::vector<delivery::Result> batch{counted("prod", "@TGS#_@TGS#AAAA", 10, 1'700'000'000'000),
                                      counted("prod", "@TGS#_@TGS#BBBB", 20, 1'700'000'000'500),
                                      counted("prod", "@TGS#_@TGS#AAAA", 11, 1'700'000'001'250)};
  s.write(batch);
  auto failed = make_result(1, 10002);
  failed.app = "prod";
  failed.group_id = "@TGS#_@TGS#BBBB";
  s.write(std::span<const delivery::Result>(&failed, 1));  // an error keeps the last good count

  auto r = http_get(s.port(), "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_NE(r.body.find("# TYPE groupwatch_group_online_members gauge\n"), std::string::npos);
  EXPECT_NE(r.body.find("groupwatch_group_online_members{app=\"prod\",group_id=\"@TGS#_@TGS#AAAA\"} 11\n"),
            std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("groupwatch_group_online_members{app=\"prod\",group_id=\"@TGS#_@TGS#BBBB\"} 20\n"),
            std::string::npos);
  EXPECT_NE(r.body.find("groupwatch_group_last_success_timestamp_seconds{app=\"prod\",group_id=\"@TGS#_@TGS#AAAA\"} "
                        "1700000001.250\n"),
            std::string::npos)
      << r.body;

  s.forget("prod", "@TGS#_@TGS#BBBB");
  r = http_get(s.port(), "/metrics");
  EXPECT_EQ(r.body.find("BBBB"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("AAAA"), std::string::npos);
  EXPECT_EQ(http_get(s.port(), "/other").status, 404);
}

TEST(PrometheusSink, EscapesLabelValues) {
  std::map<std::pair<std::string, std::string>, prom::Series> series;
  series[{"a\"pp\\", "g\n1"}] = {5, 1.5, nullptr};
  auto text = prom::render(series);
  EXPECT_NE(text.find("groupwatch_group_online_members{app=\"a\\\"pp\\\\\",group_id=\"g\\n1\"} 5\n"), std::string::npos)
      << text;
}

TEST(PrometheusSink, CarriesTheNameAndSanitisedLabels) {
  std::map<std::pair<std::string, std::string>, prom::Series> series;
  auto meta = meta_of("VIP \"lounge\"", {{"1st-tier", "gold"}, {"group-id", "shadow"}, {"region", "s\\g"}});
  series[{"app", "g1"}] = {5, 1.5, meta};
  auto text = prom::render(series);
  // The name is escaped, a label name is made valid, and a label that would
  // shadow group_id once sanitised is left out.
  EXPECT_NE(text.find("groupwatch_group_online_members{app=\"app\",group_id=\"g1\",group_name=\"VIP \\\"lounge\\\"\","
                      "_1st_tier=\"gold\",region=\"s\\\\g\"} 5\n"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("shadow"), std::string::npos) << text;
  EXPECT_EQ(prom::sanitize_label_name("a.b-c"), "a_b_c");
}

TEST(PrometheusSink, ReportsAnAddressInUse) {
  prom::PrometheusSink a("127.0.0.1:0");
  EXPECT_THROW(prom::PrometheusSink("127.0.0.1:" + std::to_string(a.port())), std::runtime_error);
}

// Through the registry and the delivery worker, scraped by a real Prometheus.
TEST(PrometheusSink, ARealPrometheusScrapesTheCounts) {
  if (!Prometheus::available()) GTEST_SKIP() << "prometheus is not installed";
  auto port = free_port();
  auto parsed =
      parse_yaml("- type: prometheus\n  listen: 127.0.0.1:" + std::to_string(port) + "\n  flush_interval: 50ms\n");
  ASSERT_EQ(parsed.sinks.size(), 1u) << parsed.errors();
  TempDir state;
  delivery::Fanout fanout(std::move(parsed.sinks), state.path());
  auto now_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  fanout.push(counted("prod-sg", "@TGS#_@TGS#cQVLVHIM62CJ", 1000, now_ms));
  fanout.push(counted("prod-sg", "@TGS#_@TGS#DISSOLVED01", 42, now_ms));
  auto named = counted("eu", "@TGS#_@TGS#cQVLVHIM62CJ", 7, now_ms);
  named.meta = meta_of("VIP \"lounge\" 中", {{"tier-level", "gold"}});
  fanout.push(named);
  ASSERT_TRUE(eventually([&] { return http_get(port, "/metrics").body.find("DISSOLVED01") != std::string::npos; }));

  Prometheus server({port});
  ASSERT_TRUE(server.wait_ready()) << server.log();
  std::vector<PromSample> got;
  ASSERT_TRUE(server.query_until(
      "groupwatch_group_online_members", [](const auto& r) { return r.size() == 3; }, got, 60s, 200ms))
      << server.log();
  std::map<std::string, std::string> by_series;
  for (auto& s : got) by_series[s.labels["app"] + "/" + s.labels["group_id"]] = s.value;
  EXPECT_EQ(by_series["prod-sg/@TGS#_@TGS#cQVLVHIM62CJ"], "1000");
  EXPECT_EQ(by_series["prod-sg/@TGS#_@TGS#DISSOLVED01"], "42");
  EXPECT_EQ(by_series["eu/@TGS#_@TGS#cQVLVHIM62CJ"], "7");
  // The name and the (sanitised) label, as Prometheus stored them.
  for (auto& s : got) {
    if (s.labels["app"] != "eu") continue;
    EXPECT_EQ(s.labels["group_name"], "VIP \"lounge\" 中");
    EXPECT_EQ(s.labels["tier_level"], "gold");
  }
  // The Grafana dashboard's top-groups query: a group's legend is its name,
  // or its ID when it has none.
  std::ifstream dash(GW_SOURCE_DIR "/deploy/grafana/groupwatch-dashboard.json");
  std::string json((std::istreambuf_iterator<char>(dash)), std::istreambuf_iterator<char>());
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(json, m, std::regex(R"re("expr": "(topk\(10, groupwatch_group_online_members[^\n]*)",)re")));
  std::string expr = std::regex_replace(m[1].str(), std::regex(R"(\\")"), "\"");
  expr = std::regex_replace(expr, std::regex(R"(\$app)"), ".*");
  auto legend = server.query(expr);
  ASSERT_TRUE(legend && legend->size() == 3) << expr;
  std::set<std::string> names;
  for (auto& s : *legend) names.insert(s.labels["app"] + "/" + s.labels["group_name"]);
  EXPECT_EQ(names, (std::set<std::string>{"eu/VIP \"lounge\" 中", "prod-sg/@TGS#_@TGS#DISSOLVED01",
                                          "prod-sg/@TGS#_@TGS#cQVLVHIM62CJ"}));
  auto up = server.query("up");
  ASSERT_TRUE(up && up->size() == 1);
  EXPECT_EQ((*up)[0].value, "1");
  auto ts = server.query("groupwatch_group_last_success_timestamp_seconds{app=\"eu\"}");
  ASSERT_TRUE(ts && ts->size() == 1);
  EXPECT_NEAR(std::stod((*ts)[0].value), static_cast<double>(now_ms) / 1000.0, 0.002);

  // A parked group's series disappears from the exposition, and then from
  // Prometheus (a stale marker at the next scrape).
  fanout.forget("prod-sg", "@TGS#_@TGS#DISSOLVED01");
  ASSERT_TRUE(eventually([&] { return http_get(port, "/metrics").body.find("DISSOLVED01") == std::string::npos; }));
  EXPECT_TRUE(eventually(
      [&] {
        auto r = server.query("groupwatch_group_online_members");
        return r && r->size() == 2;
      },
      30s));
  EXPECT_TRUE(fanout.stop(std::chrono::seconds(2)));
}

}  // namespace
