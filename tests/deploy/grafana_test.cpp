// deploy/grafana: the dashboard parses, every query names only metrics groupwatch exports,
// and the provisioning files point at what compose mounts.
#include <gtest/gtest.h>
#include <simdjson.h>
#include <yaml-cpp/yaml.h>

#include <set>
#include <string>
#include <vector>

#include "deploy/support.hpp"

namespace groupwatch::deploy_test {
namespace {

namespace fs = std::filesystem;

const fs::path kGrafana = deploy_dir() / "grafana";

// What groupwatch exports: the admin endpoint's self-metrics and the prometheus sink's gauges.
const std::set<std::string> kExported = {
    "groupwatch_group_online_members",
    "groupwatch_group_last_success_timestamp_seconds",
    "groupwatch_requests_total",
    "groupwatch_request_duration_seconds_bucket",  // a histogram: these three series
    "groupwatch_request_duration_seconds_sum",
    "groupwatch_request_duration_seconds_count",
    "groupwatch_qps_effective",
    "groupwatch_qps_cap",
    "groupwatch_cycle_progress_ratio",
    "groupwatch_cycle_overruns_total",
    "groupwatch_parked_groups",
    "groupwatch_sink_queue_depth",
    "groupwatch_sink_spool_bytes",
    "groupwatch_sink_dropped_total",
    "groupwatch_retries_total",
    "groupwatch_usersig_renewals_total",
    "groupwatch_connections_open",
    "groupwatch_handshakes_total",
};

struct Query {
  std::string where;  // panel title or variable name
  std::string expr;
};

struct Dashboard {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  std::vector<simdjson::dom::object> panels;  // rows' nested panels included
  std::vector<Query> queries;
};

std::string str(simdjson::simdjson_result<simdjson::dom::element> e) {
  std::string_view v;
  return e.get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}

void collect(Dashboard& d, simdjson::dom::array panels) {
  for (simdjson::dom::element p : panels) {
    simdjson::dom::object panel;
    if (p.get(panel) != simdjson::SUCCESS) continue;
    d.panels.push_back(panel);
    const auto title = str(panel["title"]);
    simdjson::dom::array targets;
    if (panel["targets"].get(targets) == simdjson::SUCCESS) {
      for (simdjson::dom::element t : targets) d.queries.push_back({title, str(t["expr"])});
    }
    simdjson::dom::array nested;
    if (panel["panels"].get(nested) == simdjson::SUCCESS) collect(d, nested);
  }
}

void load(Dashboard& d) {
  const auto err = d.parser.load((kGrafana / "groupwatch-dashboard.json").string()).get(d.root);
  ASSERT_EQ(err, simdjson::SUCCESS) << simdjson::error_message(err);
  simdjson::dom::array panels;
  ASSERT_EQ(d.root["panels"].get(panels), simdjson::SUCCESS);
  collect(d, panels);
  simdjson::dom::array vars;
  if (d.root["templating"]["list"].get(vars) == simdjson::SUCCESS) {
    for (simdjson::dom::element v : vars) {
      if (str(v["type"]) != "query") continue;
      // label_values(METRIC, LABEL): only METRIC is a series selector.
      auto q = str(v["query"]["query"]);
      if (q.empty()) q = str(v["query"]);
      if (q.rfind("label_values(", 0) == 0) {
        const auto comma = q.rfind(',');
        q = comma == std::string::npos ? q.substr(13, q.size() - 14) : q.substr(13, comma - 13);
      }
      d.queries.push_back({"variable " + str(v["name"]), q});
    }
  }
}

TEST(PromqlMetricNames, FindsSelectorsAndSkipsFunctionsLabelsAndVariables) {
  EXPECT_EQ(promql_metric_names(R"(histogram_quantile(0.99, sum by (le, app) (rate(x_bucket{app=~"$app"}[5m]))))"),
            (std::set<std::string>{"x_bucket"}));
  EXPECT_EQ(promql_metric_names(R"(topk(10, a{group_id!="x y"}) / on(app) group_left(sdk) b offset 5m)"),
            (std::set<std::string>{"a", "b"}));
  EXPECT_EQ(promql_metric_names("count by (app) ((time() - last_ok) > 600) and bool up"),
            (std::set<std::string>{"last_ok", "up"}));
  EXPECT_EQ(promql_metric_names("rate(c[$__rate_interval]) * ${factor} + 1e3"), (std::set<std::string>{"c"}));
  EXPECT_EQ(promql_metric_names("sum without (instance) (d) + max by(app) (e)"), (std::set<std::string>{"d", "e"}));
  EXPECT_THROW(promql_metric_names("sum(rate(c[5m])"), std::invalid_argument);
  EXPECT_THROW(promql_metric_names(R"(c{app="x})"), std::invalid_argument);
}

TEST(GrafanaDashboard, QueriesUseOnlyExportedMetrics) {
  Dashboard d;
  load(d);
  if (HasFatalFailure()) return;
  ASSERT_GE(d.queries.size(), 10u);
  for (const auto& q : d.queries) {
    SCOPED_TRACE(q.where + ": " + q.expr);
    ASSERT_FALSE(q.expr.empty());
    std::set<std::string> names;
    ASSERT_NO_THROW(names = promql_metric_names(q.expr));
    EXPECT_FALSE(names.empty()) << "a query without a metric";
    for (const auto& n : names) EXPECT_EQ(kExported.count(n), 1u) << "not exported by groupwatch: " << n;
  }
}

TEST(GrafanaDashboard, HasThePanelsOperatorsNeed) {
  Dashboard d;
  load(d);
  if (HasFatalFailure()) return;
  std::set<std::string> used;
  for (const auto& q : d.queries) {
    for (const auto& n : promql_metric_names(q.expr)) used.insert(n);
  }
  for (const char* m : {"groupwatch_group_online_members", "groupwatch_requests_total", "groupwatch_qps_cap",
                        "groupwatch_request_duration_seconds_bucket", "groupwatch_cycle_progress_ratio",
                        "groupwatch_parked_groups", "groupwatch_sink_queue_depth", "groupwatch_sink_spool_bytes"}) {
    EXPECT_EQ(used.count(m), 1u) << "no panel shows " << m;
  }
  bool top10 = false, p50 = false, p99 = false, by_outcome = false;
  for (const auto& q : d.queries) {
    top10 |= q.expr.find("topk(10, groupwatch_group_online_members") != std::string::npos;
    p50 |= q.expr.find("histogram_quantile(0.5,") != std::string::npos;
    p99 |= q.expr.find("histogram_quantile(0.99,") != std::string::npos;
    by_outcome |= q.expr.find("outcome") != std::string::npos;
  }
  EXPECT_TRUE(top10 && p50 && p99 && by_outcome);
}

TEST(GrafanaDashboard, PanelsAreWellFormed) {
  Dashboard d;
  load(d);
  if (HasFatalFailure()) return;
  EXPECT_EQ(str(d.root["uid"]), "groupwatch");
  std::set<std::int64_t> ids;
  for (auto& p : d.panels) {
    const auto title = str(p["title"]);
    SCOPED_TRACE(title);
    std::int64_t id = 0;
    ASSERT_EQ(p["id"].get(id), simdjson::SUCCESS);
    EXPECT_TRUE(ids.insert(id).second) << "duplicate panel id " << id;
    EXPECT_FALSE(title.empty());
    std::int64_t w = 0, x = 0;
    ASSERT_EQ(p["gridPos"]["w"].get(w), simdjson::SUCCESS);
    ASSERT_EQ(p["gridPos"]["x"].get(x), simdjson::SUCCESS);
    EXPECT_LE(x + w, 24) << "wider than the grid";
    if (str(p["type"]) == "row") continue;
    // Every panel follows the dashboard's datasource variable, so it works with any Prometheus.
    EXPECT_EQ(str(p["datasource"]["uid"]), "${datasource}");
  }
}

TEST(GrafanaProvisioning, PointsAtThePrometheusServiceAndTheMountedDashboard) {
  const auto ds = YAML::LoadFile((kGrafana / "provisioning" / "datasources" / "prometheus.yaml").string());
  ASSERT_TRUE(ds["datasources"].IsSequence());
  EXPECT_EQ(ds["datasources"][0]["type"].as<std::string>(), "prometheus");
  EXPECT_EQ(ds["datasources"][0]["url"].as<std::string>(), "http://prometheus:9090");

  const auto dash = YAML::LoadFile((kGrafana / "provisioning" / "dashboards" / "groupwatch.yaml").string());
  const auto path = dash["providers"][0]["options"]["path"].as<std::string>();
  const auto compose = YAML::LoadFile((deploy_dir() / "docker" / "compose.yaml").string());
  bool mounted = false;
  for (const auto& v : compose["services"]["grafana"]["volumes"]) {
    mounted |= v.as<std::string>() == "../grafana/groupwatch-dashboard.json:" + path + "/groupwatch-dashboard.json:ro";
  }
  EXPECT_TRUE(mounted) << "compose must mount the dashboard into " << path;
  EXPECT_TRUE(compose["services"]["prometheus"].IsMap());
}

}  // namespace
}  // namespace groupwatch::deploy_test
