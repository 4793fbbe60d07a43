// The cap is a property of the bytes leaving for one SDKAppID: tested at 100%
// of it, with a backlog (more groups than qps x interval), with faults that
// make requests be sent again, reloads, a second apps entry for the same
// SDKAppID, and `query` beside the daemon. The emulator counts every request
// in a sliding second by when it arrived and answers 60007 above its cap.
#include <gtest/gtest.h>

#include <set>

#include <iostream>

#include "fault/fault.hpp"

using namespace gwfault;

namespace {

// The emulator's cap for kAppId and the app's qps.
emu::Options capped(std::uint32_t qps) {
  emu::Options o;
  o.apps.push_back({kAppId, kKey, "administrator", qps});
  return o;
}

void expect_at_cap(Emulator& e, std::uint32_t cap, double seconds, std::uint64_t requests_before) {
  auto st = e.server().stats();
  const auto sent = st.apps[kAppId].requests - requests_before;
  EXPECT_EQ(st.codes[60007], 0u);
  EXPECT_LE(st.apps[kAppId].max_window, cap);
  // The test means something only at the cap: the backlog kept it busy.
  EXPECT_GE(static_cast<double>(sent), 0.8 * cap * seconds) << "the load did not reach the cap";
  std::cout << "FIGURES cap=" << cap << " max_window=" << st.apps[kAppId].max_window
            << " requests_per_s=" << static_cast<double>(sent) / seconds << " 60007=" << st.codes[60007]
            << " resets=" << st.events["reset"] << " stalls=" << st.events["stall"] << "\n";
}

}  // namespace

// 5% of requests reset after the server read (and counted) them, 1% stall
// past the timeout, a SIGHUP every 2 s, 1.5x more groups than the cycle
// holds: every resend takes a permit, so the server never sees more than
// the cap in any second and never answers 60007.
TEST(Cap, HeldAtFullLoadWithResetsStallsAndReloads) {
  TempDir dir;
  emu::Options o = capped(200);
  o.faults = {.reset = 0.05, .stall = 0.01};
  o.stall = std::chrono::seconds(3);
  o.seed = 11;
  groups_into(dir, o, "groups.txt", 3000);
  Emulator e(o);
  Cfg c = ndjson_config_for(e, dir, "10s");
  c.qps = 200;
  c.timeout = "1s";
  Process gw = start_run(dir, c);
  sleep_s(2);  // connections open, the backlog builds
  const auto before = e.server().stats().apps[kAppId].requests;
  const double seconds = 30;
  for (int i = 0; i < 15; ++i) {
    gw.signal(SIGHUP);
    sleep_s(seconds / 15);
  }
  expect_at_cap(e, 200, seconds, before);
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(20s), 0) << read_file(dir.file("gw.err"));
  auto st = e.server().stats();
  EXPECT_GT(st.events["reset"], 100u);  // the faults really happened
  EXPECT_GT(st.events["stall"], 10u);
  // Every reload kept the app, its budget and its connections.
  EXPECT_EQ(read_file(dir.file("gw.err")).find("apps_restarted=1"), std::string::npos);
}

// Two apps entries with the same SDKAppID and endpoint, qps 100 each, the
// server's cap 100: they share one budget, so together they stay under 100.
TEST(Cap, TwoAppsEntriesWithOneSdkAppIdShareOneBudget) {
  TempDir dir;
  emu::Options o = capped(100);
  groups_into(dir, o, "groups.txt", 1500);
  auto second = groups_into(dir, o, "groups2.txt", 1500, 2);
  Emulator e(o);
  Cfg c = config_for(e, dir);
  c.qps = 100;
  c.interval = "10s";
  c.extra_app = "  - name: second\n    sdkappid: " + std::to_string(kAppId) +
                "\n    admin: administrator\n    secret_key: " + kKey + "\n    endpoint: " + e.endpoint() +
                "\n    ca_file: " + c.ca_file + "\n    qps: 100\n    group_files: [" + dir.file("groups2.txt") + "]\n";
  c.sinks = {ndjson_sink(dir.file("out.ndjson"))};
  dir.write("gw.yaml", yaml(c));

  auto check = run({GW_BIN, "check", "--config", dir.file("gw.yaml")});
  EXPECT_EQ(check.status, 0) << check.err;
  EXPECT_NE(check.out.find("shared"), std::string::npos) << check.out;

  Process gw({GW_BIN, "run", "--config", dir.file("gw.yaml")}, dir.file("gw.out"), dir.file("gw.err"));
  sleep_s(2);
  const auto before = e.server().stats().apps[kAppId].requests;
  sleep_s(12);
  expect_at_cap(e, 100, 12, before);
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(20s), 0) << read_file(dir.file("gw.err"));
  // Both entries polled.
  std::set<std::string> of_second(second.begin(), second.end());
  std::size_t firsts = 0, seconds = 0;
  for (auto& l : parse_ndjson(dir.file("out.ndjson"))) (of_second.count(l.group_id) ? seconds : firsts) += 1;
  EXPECT_GT(firsts, 100u);
  EXPECT_GT(seconds, 100u);
}

// One daemon per state_dir; `query` beside a daemon that is backlogged at the
// cap goes through it and stays inside the cap.
TEST(Cap, SecondRunRefusedAndQueryGoesThroughTheDaemon) {
  TempDir dir;
  emu::Options o = capped(100);
  auto ids = groups_into(dir, o, "groups.txt", 1500);
  Emulator e(o);
  Cfg c = ndjson_config_for(e, dir, "10s");
  c.qps = 100;
  Process gw = start_run(dir, c);
  sleep_s(2);

  auto t0 = std::chrono::steady_clock::now();
  auto second = run({GW_BIN, "run", "--config", dir.file("gw.yaml")}, {.timeout = 10s});
  EXPECT_EQ(second.status, 2) << second.err;
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  EXPECT_NE(second.err.find("pid " + std::to_string(gw.pid())), std::string::npos) << second.err;

  const auto before = e.server().stats().apps[kAppId].requests;
  const auto t1 = std::chrono::steady_clock::now();
  std::vector<std::string> argv = {GW_BIN, "query", "--config", dir.file("gw.yaml")};
  std::vector<std::string> asked(ids.begin(), ids.begin() + 20);
  argv.insert(argv.end(), asked.begin(), asked.end());
  auto q = run(argv, {.timeout = 60s});
  EXPECT_EQ(q.status, 0) << q.out << q.err;
  for (auto& id : asked) EXPECT_NE(q.out.find(id + "\t"), std::string::npos) << id;
  sleep_s(3);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
  expect_at_cap(e, 100, seconds, before);
  EXPECT_NE(read_file(dir.file("gw.err")).find("control.ask"), std::string::npos);
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(20s), 0) << read_file(dir.file("gw.err"));
}

// With poll.max_qps set, a SIGHUP that changes nothing restarts no app and
// opens no connection: budgets, pools and limiters stay.
TEST(Cap, SighupWithMaxQpsKeepsAppsAndConnections) {
  TempDir dir;
  emu::Options o = capped(200);
  o.request_log_file = dir.file("requests.jsonl");
  groups_into(dir, o, "groups.txt", 300);
  Emulator e(o);
  Cfg c = ndjson_config_for(e, dir, "5s");
  c.extra_top = "  max_qps: 150\n";
  Process gw = start_run(dir, c);
  sleep_s(3);
  const auto requests = e.server().stats().requests;
  const double hup_at = now_unix();
  gw.signal(SIGHUP);
  sleep_s(3);
  auto st = e.server().stats();
  EXPECT_GT(st.requests, requests + 50);  // still polling
  // On the same connections: every connection used before the SIGHUP that
  // was still open carries requests after it. (The pool may open another
  // one when a loaded machine slows answers; a replaced pool would close
  // all of the old ones.)
  std::set<std::uint64_t> before, after;
  for (const auto& r : parse_request_log(dir.file("requests.jsonl"))) {
    if (r.t < hup_at - 0.5) before.insert(r.conn);
    if (r.t > hup_at + 0.5) after.insert(r.conn);
  }
  ASSERT_FALSE(before.empty());
  std::size_t kept = 0;
  for (auto c : before) kept += after.count(c);
  EXPECT_GE(kept, 1u);
  EXPECT_LE(st.handshakes, before.size() + 1) << "connections were reopened";
  auto err = read_file(dir.file("gw.err"));
  EXPECT_NE(log_line_with(err, {"config.reload", "apps_kept=1", "apps_restarted=0", "pools_replaced=0"}), "") << err;
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(20s), 0) << err;
}
