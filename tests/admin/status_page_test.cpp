// End to end: the real emulator (in-process), the real groupwatch binary with
// admin.listen, the status page rendered by headless Chromium, and /metrics
// scraped by a real Prometheus server.
#include <gtest/gtest.h>

#include <regex>

#include "support/emulator.hpp"
#include "support/servers.hpp"

namespace {

using namespace std::chrono_literals;
using namespace gw_test;
namespace emu = groupwatch::emulator;

constexpr const char* kSecretKey = "status-page-secret-key-0123456789";

// One daemon for the whole suite: starting it and letting it collect a few
// samples is the slow part.
struct Daemon {
  TempDir dir{"gw-status"};
  std::unique_ptr<Emulator> emulator;
  std::unique_ptr<Process> process;
  std::uint16_t admin_port = 0;
  std::vector<std::string> dissolved;

  Daemon() {
    auto ids = emu::generate_group_ids(120, 11);
    emu::Options o;
    o.apps.push_back({kAppId, kSecretKey, "administrator", 200});
    for (std::size_t i = 0; i < ids.size(); ++i) {
      emu::Group g{ids[i]};
      if (i % 40 == 7) {
        g.fault = emu::Fault::e10010;
        dissolved.push_back(ids[i]);
      }
      o.groups.push_back(g);
    }
    // Counts change every five 4 s cycles: the top set is stable long enough
    // for sparklines of several points, and they still move between periods.
    o.refresh = 20s;
    o.faults.e10002 = 0.03;
    o.faults.http502 = 0.01;
    o.latency = {2ms, 25ms};
    emulator = std::make_unique<Emulator>(std::move(o));
    dir.write("ca.pem", emulator->ca_pem());
    // Half the groups have a name (a YAML watchlist of {id, name} entries).
    std::string groups;
    for (std::size_t i = 0; i < ids.size(); ++i)
      groups += i % 2 == 0 ? "- {id: \"" + ids[i] + "\", name: \"Lobby " + std::to_string(i) + "\"}\n"
                           : "- \"" + ids[i] + "\"\n";
    dir.write("groups.yaml", groups);
    admin_port = free_port();
    std::ostringstream y;
    y << "apps:\n"
      << "  - name: prod-sg\n"
      << "    sdkappid: " << kAppId << "\n"
      << "    admin: administrator\n"
      << "    secret_key: " << kSecretKey << "\n"
      << "    endpoint: https://127.0.0.1:" << emulator->port() << "\n"
      << "    ca_file: " << dir.file("ca.pem") << "\n"
      << "    qps: 40\n"
      << "    group_files: [" << dir.file("groups.yaml") << "]\n"
      << "poll:\n  interval: 4s\n  timeout: 3s\n"
      << "admin:\n  listen: 127.0.0.1:" << admin_port << "\n"
      << "state_dir: " << dir.file("state") << "\n"
      << "sinks:\n  - type: ndjson\n    path: " << dir.file("out.ndjson") << "\n    flush_interval: 200ms\n";
    dir.write("groupwatch.yaml", y.str());
    process =
        std::make_unique<Process>(std::vector<std::string>{GW_BIN, "run", "--config", dir.file("groupwatch.yaml")},
                                  dir.file("gw.out"), dir.file("gw.err"));
  }
  ~Daemon() { process->stop(); }
  std::string log() const { return read_file(dir.file("gw.err")); }
};

Daemon* daemon_ = nullptr;

class StatusPage : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { daemon_ = new Daemon(); }
  static void TearDownTestSuite() {
    delete daemon_;
    daemon_ = nullptr;
  }
  Daemon& d() { return *daemon_; }

  // Until the status JSON shows parked groups, a few history points and
  // sparklines of at least three cycles.
  void wait_for_data() {
    std::string last;
    bool ok = wait_for(
        [&] {
          auto r = http_get(d().admin_port, "/api/status");
          last = r.body;
          if (r.status != 200) return false;
          std::smatch m;
          static const std::regex t_re(R"re("history":\{"t":\[([^\]]*)\])re");
          if (!std::regex_search(last, m, t_re)) return false;
          auto points = std::count(m[1].first, m[1].second, ',') + (m[1].length() > 0 ? 1 : 0);
          static const std::regex spark_re(R"re("top":\[\{[^\]]*"history":\[\d+,\d+,\d+)re");
          return points >= 3 && std::regex_search(last, spark_re) && last.find("\"parked\":[{") != std::string::npos;
        },
        60s, 200ms);
    ASSERT_TRUE(ok) << "no data in time; last status: " << last.substr(0, 2000) << "\nlog:\n" << d().log();
  }
};

TEST_F(StatusPage, EndpointsAnswer) {
  ASSERT_TRUE(wait_for([&] { return http_get(d().admin_port, "/healthz").status == 200; }, 30s, 200ms)) << d().log();
  wait_for_data();
  auto ready = http_get(d().admin_port, "/readyz");
  EXPECT_EQ(ready.status, 200) << ready.body;
  auto m = http_get(d().admin_port, "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("groupwatch_requests_total{app=\"prod-sg\",outcome=\"ok\"}"), std::string::npos);
  EXPECT_NE(m.body.find("groupwatch_sink_healthy{sink=\"ndjson\"} 1"), std::string::npos);
  EXPECT_EQ(m.body.find(kSecretKey), std::string::npos) << "no secret in metrics";
  auto s = http_get(d().admin_port, "/api/status");
  EXPECT_EQ(s.body.find(kSecretKey), std::string::npos) << "no secret in the status JSON";
  for (auto& id : d().dissolved) EXPECT_NE(s.body.find(id), std::string::npos) << id << " should be listed as parked";
  EXPECT_NE(d().log().find("admin.listening"), std::string::npos);
}

TEST_F(StatusPage, ChromiumDrawsTheChartAndFillsTheTables) {
  if (!chromium_available()) GTEST_SKIP() << "chromium is not installed";
  wait_for_data();
  std::string url = "http://127.0.0.1:" + std::to_string(d().admin_port) + "/";
  TempDir tmp("gw-chromium");

  auto dom = chromium(tmp, "dom", {"--window-size=1280,900", "--dump-dom"}, url);
  ASSERT_EQ(dom.status, 0) << dom.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(dom.out, m, std::regex(R"re(<canvas[^>]*data-drawn="(\d+)")re"))) << dom.out;
  EXPECT_GE(std::stoi(m[1]), 2) << "the rate chart has at least two points";
  EXPECT_NE(dom.out.find("prod-sg"), std::string::npos);
  // The top-groups table has rows with sparklines, the parked table names a dissolved group.
  auto top = dom.out.substr(dom.out.find("id=\"top\""));
  // A named group shows its name with the ID on hover; one without, its ID.
  EXPECT_TRUE(std::regex_search(top, std::regex(R"re(<td class="gname" title="@TGS#[^"]+">Lobby \d+</td>)re")))
      << top.substr(0, 1500);
  EXPECT_NE(top.find("<td class=\"gid\">@TGS#"), std::string::npos) << top.substr(0, 1500);
  EXPECT_NE(top.find("<svg"), std::string::npos);
  auto parked = dom.out.substr(dom.out.find("id=\"parked\""));
  EXPECT_NE(parked.find("10010"), std::string::npos) << parked.substr(0, 1500);
  auto sinks = dom.out.substr(dom.out.find("id=\"sinks\""));
  EXPECT_NE(sinks.find("healthy"), std::string::npos) << sinks.substr(0, 1500);
  EXPECT_EQ(dom.out.find(">Cannot reach groupwatch"), std::string::npos) << "the page could not fetch /api/status";

  std::filesystem::create_directories(GW_BINARY_DIR "/artifacts");
  struct Shot {
    const char* name;
    std::vector<std::string> flags;
  };
  for (const auto& shot : {Shot{"status-page.png", {"--window-size=1280,900"}},
                           Shot{"status-page-dark.png", {"--window-size=1280,900", "--force-dark-mode"}},
                           Shot{"status-page-phone.png", {"--window-size=390,844"}}}) {
    std::string out = std::string(GW_BINARY_DIR "/artifacts/") + shot.name;
    std::filesystem::remove(out);
    auto flags = shot.flags;
    flags.push_back("--screenshot=" + out);
    auto r = chromium(tmp, shot.name, flags, url);
    EXPECT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(std::filesystem::exists(out)) << r.err;
    EXPECT_GT(std::filesystem::file_size(out), 20000u) << shot.name << " looks empty";
  }
}

TEST_F(StatusPage, PrometheusScrapesTheMetricsEndpoint) {
  if (!Prometheus::available()) GTEST_SKIP() << "prometheus is not installed";
  ASSERT_TRUE(wait_for([&] { return http_get(d().admin_port, "/healthz").status == 200; }, 30s, 200ms)) << d().log();
  Prometheus prom({d().admin_port});
  ASSERT_TRUE(prom.wait_ready()) << prom.log();
  std::vector<PromSample> up;
  ASSERT_TRUE(prom.query_until(
      "up", [](const auto& r) { return r.size() == 1 && r[0].value == "1"; }, up, 30s, 200ms))
      << prom.log();
  EXPECT_EQ(up[0].labels["job"], "groupwatch");
  // The scrape parsed: a histogram and labelled counters came through.
  std::vector<PromSample> results;
  ASSERT_TRUE(wait_for(
      [&] {
        auto r = prom.query("groupwatch_results_total");
        if (r) results = *r;
        return r && !r->empty() && std::stod((*r)[0].value) > 0;
      },
      30s, 200ms));
  EXPECT_EQ(results[0].labels["app"], "prod-sg");
  auto hist = prom.query("groupwatch_request_duration_seconds_count");
  ASSERT_TRUE(hist && !hist->empty());
  EXPECT_GT(std::stod((*hist)[0].value), 0);
  auto scrape = prom.query("scrape_samples_post_metric_relabeling");
  ASSERT_TRUE(scrape && !scrape->empty());
  EXPECT_GT(std::stod((*scrape)[0].value), 30);
}

// The degraded state the issue describes: one app stopped (70016), one
// throttled by the server (and overrunning its cycles because of it), a sink
// failing for longer than admin.sink_failing_after. The page shows all of it
// above everything else; /readyz says not ready.
TEST(StatusPageDegraded, ShowsStoppedAppFailingSinkAndThrottlingAboveTheFold) {
  if (!chromium_available()) GTEST_SKIP() << "chromium is not installed";
  TempDir dir("gw-degraded");
  auto ids = emu::generate_group_ids(100, 5);
  emu::Options o;
  o.apps.push_back({kAppId, kSecretKey, "administrator", 15});  // the server allows 15/s, the config asks 40
  for (auto& id : ids) o.groups.push_back(emu::Group{id});
  Emulator e(std::move(o));
  dir.write("ca.pem", e.ca_pem());
  std::string groups;
  for (auto& id : ids) groups += id + "\n";
  dir.write("groups.txt", groups);
  const auto admin = free_port();
  auto app = [&](const std::string& name, std::uint64_t id) {
    return "  - name: " + name + "\n    sdkappid: " + std::to_string(id) +
           "\n    admin: administrator\n    secret_key: " + kSecretKey +
           "\n    endpoint: https://127.0.0.1:" + std::to_string(e.port()) + "\n    ca_file: " + dir.file("ca.pem") +
           "\n    qps: 40\n    group_files: [" + dir.file("groups.txt") + "]\n";
  };
  dir.write("gw.yaml", "apps:\n" + app("prod-sg", kAppId) + app("wrong-region", 1400000999) +
                           "poll:\n  interval: 4s\n  timeout: 3s\n"
                           "admin:\n  listen: 127.0.0.1:" +
                           std::to_string(admin) +
                           "\n  sink_failing_after: 2s\n"
                           "state_dir: " +
                           dir.file("state") + "\nsinks:\n  - type: ndjson\n    path: " + dir.file("out.ndjson") +
                           "\n  - type: postgres\n    dsn: host=127.0.0.1 port=1 dbname=x connect_timeout=1\n");
  Process gw({GW_BIN, "run", "--config", dir.file("gw.yaml")}, dir.file("gw.out"), dir.file("gw.err"));
  std::string status;
  ASSERT_TRUE(wait_for(
      [&] {
        status = http_get(admin, "/api/status").body;
        return status.find("\"overruns\":1") != std::string::npos &&
               status.find("\"failing_s\":") != std::string::npos && http_get(admin, "/readyz").status == 503;
      },
      60s, 200ms))
      << status.substr(0, 3000) << "\n"
      << read_file(dir.file("gw.err"));

  std::string url = "http://127.0.0.1:" + std::to_string(admin) + "/";
  TempDir tmp("gw-chromium-degraded");
  auto dom = chromium(tmp, "dom", {"--window-size=1280,800", "--dump-dom"}, url);
  ASSERT_EQ(dom.status, 0) << dom.err;
  const auto alerts_at = dom.out.find("id=\"alerts\"");
  ASSERT_NE(alerts_at, std::string::npos);
  // First in <main>, before the app cards: above the fold.
  EXPECT_LT(alerts_at, dom.out.find("id=\"apps\"")) << dom.out.substr(0, 3000);
  const auto alerts = dom.out.substr(alerts_at, dom.out.find("</section>", alerts_at) - alerts_at);
  EXPECT_EQ(alerts.find("display: none"), std::string::npos) << alerts;
  EXPECT_NE(alerts.find("app wrong-region stopped"), std::string::npos) << alerts;
  EXPECT_NE(alerts.find("sink postgres failing for"), std::string::npos) << alerts;
  EXPECT_NE(alerts.find("app prod-sg throttled"), std::string::npos) << alerts;
  EXPECT_NE(alerts.find("cycle"), std::string::npos) << alerts;
  EXPECT_NE(dom.out.find("not ready"), std::string::npos);
  // The OK share in the stats is the breakdown's OK line.
  std::smatch share, line;
  ASSERT_TRUE(
      std::regex_search(dom.out, share, std::regex(R"re(<div class="v">([0-9.]+%)</div><div class="l">answers OK)re")));
  ASSERT_TRUE(std::regex_search(
      dom.out, line,
      std::regex(R"re(<span>OK</span><span class="n">[0-9,]+</span><span class="pct">([0-9.]+%)</span>)re")));
  EXPECT_EQ(share[1], line[1]);

  std::filesystem::create_directories(GW_BINARY_DIR "/artifacts");
  for (auto [name, dark] :
       {std::pair{"status-page-degraded.png", false}, std::pair{"status-page-degraded-dark.png", true}}) {
    std::string out = std::string(GW_BINARY_DIR "/artifacts/") + name;
    std::filesystem::remove(out);
    std::vector<std::string> flags{"--window-size=1280,800", "--screenshot=" + out};
    if (dark) flags.push_back("--force-dark-mode");
    auto r = chromium(tmp, name, flags, url);
    EXPECT_EQ(r.status, 0) << r.err;
    ASSERT_TRUE(std::filesystem::exists(out)) << r.err;
    EXPECT_GT(std::filesystem::file_size(out), 20000u);
  }
  EXPECT_EQ(gw.stop(30s), 0);
}

}  // namespace
