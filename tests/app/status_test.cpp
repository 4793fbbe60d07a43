// The status document (/api/status) from what the engine, the sinks, the
// board and the cluster report: every member the status page reads, the
// rates between history samples, redaction, and numbers that are not finite.
#include "app/status.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <cmath>
#include <limits>

#include "groupwatch/tencent/errors.hpp"
#include "groupwatch/util/log.hpp"

namespace {

using namespace groupwatch;
using app::StatusView;

StatusView sample_view() {
  StatusView v;
  v.now = 1000.0;
  v.uptime_s = 12.5;
  v.interval_s = 240;
  v.sample_s = 5;
  v.ready = {false, "app 'prod' stopped: bad key"};
  app::AppMetrics m;
  m.name = "prod";
  m.sdkappid = 1400000001;
  m.qps_cap = 200;
  m.qps_effective = 150.5;
  m.groups = 3;
  m.requests = 2000;
  m.results = 1900;
  m.results_ok = 1800;
  m.fresh_max_s = std::numeric_limits<double>::infinity();
  m.stopped = true;
  m.stop_reason = "signature of s3cr3t-key refused";
  m.answers_by_code = {{0, 1800}, {10002, 60}, {tencent::network_error_code, 40}};
  m.failures_by_kind = {{"timeout", 30}, {"reset", 10}};
  v.apps.push_back(m);
  // Two samples 5 s apart: 1000 requests, 800 OK, 100 errors between them.
  v.history["prod"] = {{990, 1000, 1000, 1000, 200, 200}, {995, 2000, 1900, 1800, 200, 150.5}};
  v.top.push_back({"prod", "@TGS#_a", "Alpha", 42, {40, 41, 42}});
  v.parked.push_back({"prod", "@TGS#_p", "", 10015, "group ID is wrong", std::chrono::system_clock::time_point{}});
  delivery::SinkStats s;
  s.name = "db";
  s.type = "postgres";
  s.healthy = false;
  s.spooled = 7;
  s.last_error = "password s3cr3t-key rejected";
  v.sinks.push_back(s);
  delivery::SinkStats file;
  file.name = "file";
  file.type = "ndjson";
  v.sinks.push_back(file);
  v.sinks_failing_s["db"] = 33.25;
  return v;
}

struct Doc {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  explicit Doc(const std::string& text) { root = parser.parse(text); }
};

TEST(StatusDocument, CarriesEveryMemberThePageReads) {
  log::add_secret("s3cr3t-key");
  const std::string text = app::status_document(sample_view());
  log::clear_secrets();
  Doc d(text);
  const auto& r = d.root;
  EXPECT_EQ(std::string_view(r["version"]), GW_VERSION);
  EXPECT_EQ(double(r["time"]), 1000.0);
  EXPECT_EQ(double(r["uptime_s"]), 12.5);
  EXPECT_EQ(double(r["interval_s"]), 240.0);
  EXPECT_EQ(double(r["sample_s"]), 5.0);
  EXPECT_FALSE(bool(r["ready"]));
  EXPECT_EQ(std::string_view(r["ready_reason"]), "app 'prod' stopped: bad key");

  auto a = r["apps"].at(0);
  EXPECT_EQ(std::string_view(a["name"]), "prod");
  EXPECT_EQ(std::uint64_t(a["sdkappid"]), 1400000001u);
  EXPECT_EQ(double(a["qps_cap"]), 200.0);
  EXPECT_EQ(double(a["qps_effective"]), 150.5);
  EXPECT_EQ(std::uint64_t(a["groups"]), 3u);
  EXPECT_TRUE(a["fresh_max_s"].is_null()) << "infinity is not JSON";
  EXPECT_TRUE(bool(a["stopped"]));
  EXPECT_EQ(std::string_view(a["stop_reason"]), "signature of [redacted] refused");
  for (const char* key : {"parked", "fresh_p50_s", "fresh_p99_s", "cycle", "cycle_dispatched", "requests", "results",
                          "results_ok", "retries", "rate_limited", "overruns", "clock_steps", "slots_skipped",
                          "in_flight", "connections_open", "paused"}) {
    EXPECT_FALSE(a[key].error()) << key;
  }
  // Network failures are told by kind when their kinds are known.
  auto o = a["outcomes"];
  EXPECT_EQ(std::uint64_t(o["ok"]), 1800u);
  EXPECT_EQ(std::uint64_t(o["10002"]), 60u);
  EXPECT_EQ(std::uint64_t(o["timeout"]), 30u);
  EXPECT_EQ(std::uint64_t(o["reset"]), 10u);
  EXPECT_TRUE(o["network"].error());

  auto t = r["top"].at(0);
  EXPECT_EQ(std::string_view(t["group_name"]), "Alpha");
  EXPECT_EQ(std::uint64_t(t["count"]), 42u);
  EXPECT_EQ(std::uint64_t(t["history"].at(2)), 42u);
  auto p = r["parked"].at(0);
  EXPECT_EQ(std::int64_t(p["code"]), 10015);
  EXPECT_EQ(std::string_view(p["time"]), "1970-01-01T00:00:00.000Z");

  auto db = r["sinks"].at(0);
  EXPECT_FALSE(bool(db["healthy"]));
  EXPECT_EQ(std::uint64_t(db["spooled"]), 7u);
  EXPECT_EQ(double(db["failing_s"]), 33.25);
  EXPECT_EQ(std::string_view(db["last_error"]), "password [redacted] rejected");
  EXPECT_EQ(double(r["sinks"].at(1)["failing_s"]), 0.0);
  EXPECT_TRUE(r["cluster"].error()) << "no cluster member without a cluster";
  EXPECT_EQ(text.find("s3cr3t"), std::string::npos);
  // Whole numbers read as such: "qps_cap":200, not Boost.JSON's 2E2.
  EXPECT_NE(text.find(R"("qps_cap":200,)"), std::string::npos) << text;
  EXPECT_NE(text.find(R"("sample_s":5,)"), std::string::npos) << text;
}

TEST(StatusDocument, HistoryIsTheRatesBetweenSamplesAndALivePoint) {
  Doc d(app::status_document(sample_view()));
  auto h = d.root["apps"].at(0)["history"];
  // The two samples give one point; now (1000) is 5 s after the last: a live
  // point with no change since.
  ASSERT_EQ(h["t"].get_array().size(), 2u);
  EXPECT_EQ(double(h["t"].at(0)), 995.0);
  EXPECT_EQ(double(h["rate"].at(0)), 200.0);
  EXPECT_EQ(double(h["ok"].at(0)), 160.0);
  EXPECT_EQ(double(h["err"].at(0)), 20.0);
  EXPECT_EQ(double(h["cap"].at(0)), 200.0);
  EXPECT_EQ(double(h["effective"].at(0)), 150.5);
  EXPECT_EQ(double(h["t"].at(1)), 1000.0);
  EXPECT_EQ(double(h["rate"].at(1)), 0.0);
}

TEST(StatusDocument, NamesWhatTheClusterHolds) {
  StatusView v = sample_view();
  v.apps.push_back(v.apps.front());
  v.apps.back().name = "other";
  v.apps.back().held = false;
  cluster::ClusterStatus c;
  c.name = "gw-a";
  c.joined = true;
  c.reachable = false;
  c.endpoint = "http://127.0.0.1:2379";
  c.lease_age_s = 4.5;
  c.members = {"gw-a", "gw-b"};
  c.apps.push_back({1400000001, true, "gw-a", 2, 1, 0});
  v.cluster = c;
  Doc d(app::status_document(v));
  auto cl = d.root["cluster"];
  EXPECT_EQ(std::string_view(cl["etcd"]), "unreachable");
  EXPECT_EQ(double(cl["lease_age_s"]), 4.5);
  ASSERT_EQ(cl["holds"].get_array().size(), 1u);
  EXPECT_EQ(std::string_view(cl["holds"].at(0)), "prod");
  EXPECT_EQ(std::string_view(cl["members"].at(1)), "gw-b");
  EXPECT_EQ(std::string_view(cl["apps"].at(0)["holder"]), "gw-a");
  EXPECT_EQ(std::uint64_t(cl["apps"].at(0)["acquired"]), 2u);
}

}  // namespace
