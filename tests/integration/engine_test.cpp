// The polling engine against the real emulator over TLS (issue: the polling
// engine). Intervals are scaled down; the ratios are the product's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "groupwatch/schedule/plan.hpp"
#include "harness.hpp"
#include "support/window.hpp"

using namespace gwtest;
namespace emu = groupwatch::emulator;

namespace {

using groupwatch::testing::max_in_window;

}  // namespace

TEST(Engine, RateAndSpreadOverOneCycle) {
  TempDir dir;
  emu::Options o;
  o.apps.push_back({kAppId, kKey, "administrator", 100});
  o.request_log_file = dir.file("requests.jsonl");
  auto ids = write_groups(dir, "groups.txt", 700);
  for (auto& id : ids) o.groups.push_back({id});
  Emulator e(o);
  dir.write("gw.yaml", app_config(e, dir, dir.file("groups.txt"), 100, "10s"));
  // Start just after a cycle boundary so the run covers one whole cycle.
  sleep_until_cycle_offset(10, 0.2);
  double t_start = now_unix();
  Process gw({GW_BIN, "run", "--config", dir.file("gw.yaml")}, dir.file("gw.out"), dir.file("gw.err"));
  double cycle0 = std::floor(t_start / 10) * 10;
  double full_from = cycle0 + 10, full_to = cycle0 + 20;
  std::this_thread::sleep_for(std::chrono::duration<double>(full_to + 0.6 - now_unix()));
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(10s), 0) << read_file(dir.file("gw.err"));
  e.server().stop();
  auto reqs = parse_request_log(dir.file("requests.jsonl"));
  // A request belongs to the cycle of its group's slot: a slot dispatched
  // late (a starved machine) lands after its cycle's end but is still that
  // cycle's one poll, never a second one in the next.
  auto by_slot = ids;
  groupwatch::schedule::sort_by_slot(by_slot);
  std::map<std::string, double> offset;
  for (std::size_t k = 0; k < by_slot.size(); ++k)
    offset[by_slot[k]] =
        std::chrono::duration<double>(groupwatch::schedule::slot_offset(k, by_slot.size(), 10s)).count();
  std::map<std::string, int> per_group;
  std::vector<double> times;
  std::map<int, int> per_second;
  for (auto& r : reqs) {
    times.push_back(r.t);
    EXPECT_NE(r.code, 60007) << "over the cap at " << r.t;
    if (std::floor((r.t - offset[r.group] - full_from) / 10 + 1e-3) == 0) ++per_group[r.group];
    if (r.t >= full_from && r.t < full_to) ++per_second[static_cast<int>(r.t - full_from)];
  }
  // Every group once in the full cycle.
  EXPECT_EQ(per_group.size(), 700u);
  for (auto& [g, n] : per_group) EXPECT_EQ(n, 1) << g;
  // Never more than the cap in any sliding second (emulator's own count too).
  EXPECT_LE(max_in_window(times, 1.0), 100u);
  EXPECT_LE(e.server().stats().apps[kAppId].max_window, 100u);
  // Spread: no 1-second slice holds more than twice its fair share (70).
  for (auto& [s, n] : per_second) EXPECT_LE(n, 140) << "second " << s;
  EXPECT_EQ(per_second.size(), 10u);
}

TEST(Engine, FaultsStillGiveEveryGroupAnOkResult) {
  TempDir dir;
  emu::Options o;
  o.faults = {.e10002 = 0.10, .http502 = 0.02, .reset = 0.01};
  o.seed = 42;
  auto ids = write_groups(dir, "groups.txt", 600);
  for (auto& id : ids) o.groups.push_back({id});
  Emulator e(o);
  dir.write("gw.yaml", app_config(e, dir, dir.file("groups.txt"), 200, "4m", "  retries: 5\n"));
  auto r = run({GW_BIN, "once", "--config", dir.file("gw.yaml")});
  EXPECT_EQ(r.status, 0) << r.err;
  auto lines = parse_ndjson(dir.file("out.ndjson"));
  std::map<std::string, int> ok;
  for (auto& l : lines) {
    EXPECT_EQ(l.error_code, 0) << l.group_id;
    if (l.error_code == 0 && l.has_count) ++ok[l.group_id];
  }
  EXPECT_EQ(lines.size(), 600u);  // exactly one result per group
  EXPECT_EQ(ok.size(), 600u);
  auto st = e.server().stats();
  EXPECT_GT(st.codes[10002], 20u);  // the faults really happened
}

TEST(Engine, DissolvedAndPublicGroupsAreRecordedOnceThenParked) {
  TempDir dir;
  emu::Options o;
  o.request_log_file = dir.file("requests.jsonl");
  auto ids = write_groups(dir, "groups.txt", 30);
  for (auto& id : ids) o.groups.push_back({id});
  std::string pub = "@TGS#_@TGS#PUBLIC000001";
  o.groups.push_back({pub, emu::GroupType::public_group});
  {
    std::ofstream f(dir.file("groups.txt"), std::ios::app);
    f << pub << "\n";
  }
  Emulator e(o);
  dir.write("gw.yaml", app_config(e, dir, dir.file("groups.txt"), 200, "2s"));
  Process gw({GW_BIN, "run", "--config", dir.file("gw.yaml")}, dir.file("gw.out"), dir.file("gw.err"));
  std::this_thread::sleep_for(3s);
  ASSERT_TRUE(e.server().dissolve(ids[5]));
  std::this_thread::sleep_for(6s);
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(10s), 0) << read_file(dir.file("gw.err"));
  auto lines = parse_ndjson(dir.file("out.ndjson"));
  int dissolved = 0, pub_results = 0, other_ok = 0;
  for (auto& l : lines) {
    if (l.group_id == ids[5] && l.error_code == 10010) ++dissolved;
    if (l.group_id == pub) {
      ++pub_results;
      EXPECT_EQ(l.error_code, 10007);
    }
    if (l.group_id == ids[0] && l.error_code == 0) ++other_ok;
  }
  EXPECT_EQ(dissolved, 1);
  EXPECT_EQ(pub_results, 1);
  EXPECT_GE(other_ok, 3);  // the rest keep being polled every cycle
  // And the emulator saw exactly one request for each after the answer.
  int dissolved_reqs = 0;
  for (auto& r : parse_request_log(dir.file("requests.jsonl")))
    if (r.group == ids[5] && r.code == 10010) ++dissolved_reqs;
  EXPECT_EQ(dissolved_reqs, 1);
  EXPECT_NE(read_file(dir.file("gw.err")).find("group.parked"), std::string::npos);
}

TEST(Engine, LowerServerCapConverges) {
  TempDir dir;
  emu::Options o;
  o.apps.push_back({kAppId, kKey, "administrator", 50});
  o.request_log_file = dir.file("requests.jsonl");
  o.accept_any_group = true;
  write_groups(dir, "groups.txt", 1000);
  Emulator e(o);
  dir.write("gw.yaml", app_config(e, dir, dir.file("groups.txt"), 100, "4m", "  retries: 3\n"));
  double t0 = now_unix();
  auto r = run({GW_BIN, "once", "--config", dir.file("gw.yaml")}, {.timeout = 120s});
  EXPECT_EQ(r.status, 0) << r.err;
  std::size_t after = 0, limited = 0, early_limited = 0;
  for (auto& q : parse_request_log(dir.file("requests.jsonl"))) {
    if (q.t < t0 + 10) {
      if (q.code == 60007) ++early_limited;
      continue;
    }
    ++after;
    if (q.code == 60007) ++limited;
  }
  EXPECT_GT(early_limited, 0u);  // it did start above the real cap
  ASSERT_GT(after, 300u);
  EXPECT_LT(static_cast<double>(limited) / static_cast<double>(after), 0.05) << limited << " of " << after;
  EXPECT_NE(r.err.find("app.rate_lowered"), std::string::npos);
}

TEST(Engine, ShortUserSigTtlNeverExpiresOnTheServer) {
  TempDir dir;
  emu::Options o;
  auto ids = write_groups(dir, "groups.txt", 100);
  for (auto& id : ids) o.groups.push_back({id});
  Emulator e(o);
  dir.write("gw.yaml", app_config(e, dir, dir.file("groups.txt"), 200, "2s", "", "    usersig_ttl: 5s\n"));
  Process gw({GW_BIN, "run", "--config", dir.file("gw.yaml")}, dir.file("gw.out"), dir.file("gw.err"));
  std::this_thread::sleep_for(20s);
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(10s), 0) << read_file(dir.file("gw.err"));
  auto st = e.server().stats();
  EXPECT_EQ(st.codes[70001], 0u);
  EXPECT_GT(st.codes[0], 800u);  // ~ 10 cycles of 100 groups
}

TEST(Engine, SigtermMidCycleLosesNothingAndWritesNoPartialLine) {
  TempDir dir;
  emu::Options o;
  o.latency = {std::chrono::milliseconds(300), std::chrono::milliseconds(300)};
  auto ids = write_groups(dir, "groups.txt", 400);
  for (auto& id : ids) o.groups.push_back({id});
  Emulator e(o);
  dir.write("gw.yaml", app_config(e, dir, dir.file("groups.txt"), 200, "4s"));
  Process gw({GW_BIN, "run", "--config", dir.file("gw.yaml")}, dir.file("gw.out"), dir.file("gw.err"));
  std::this_thread::sleep_for(3500ms);
  auto t = std::chrono::steady_clock::now();
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(10s), 0) << read_file(dir.file("gw.err"));
  EXPECT_LT(std::chrono::steady_clock::now() - t, 5s);
  std::size_t bad = 0;
  auto lines = parse_ndjson(dir.file("out.ndjson"), &bad);
  EXPECT_EQ(bad, 0u);
  // Every answer the emulator sent is in the sink.
  EXPECT_EQ(lines.size(), e.server().stats().codes[0]);
  EXPECT_GT(lines.size(), 50u);
}

TEST(Engine, SighupAddsAndRemovesGroupsAndSurvivesABadConfig) {
  TempDir dir;
  emu::Options o;
  o.accept_any_group = true;
  o.request_log_file = dir.file("requests.jsonl");
  Emulator e(o);
  auto a = write_groups(dir, "groups.txt", 20, 1);
  dir.write("gw.yaml", app_config(e, dir, dir.file("groups.txt"), 200, "1s"));
  Process gw({GW_BIN, "run", "--config", dir.file("gw.yaml")}, dir.file("gw.out"), dir.file("gw.err"));
  std::this_thread::sleep_for(2500ms);
  // New list: drop the first five, add five new ones.
  auto b = groupwatch::emulator::generate_group_ids(5, 99);
  {
    std::ofstream f(dir.file("groups.txt"), std::ios::trunc);
    for (std::size_t i = 5; i < a.size(); ++i) f << a[i] << "\n";
    for (auto& id : b) f << id << "\n";
  }
  gw.signal(SIGHUP);
  std::this_thread::sleep_for(500ms);
  double reloaded_at = now_unix();
  std::this_thread::sleep_for(2500ms);
  // A broken config: reported, old one stays, polling goes on.
  std::string good = read_file(dir.file("gw.yaml"));
  dir.write("gw.yaml", good + "\nbogus_key: [\n");
  gw.signal(SIGHUP);
  std::this_thread::sleep_for(500ms);
  double broken_at = now_unix();
  std::this_thread::sleep_for(2500ms);
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(10s), 0) << read_file(dir.file("gw.err"));
  std::set<std::string> removed(a.begin(), a.begin() + 5), added(b.begin(), b.end());
  std::map<std::string, int> after_reload, after_broken;
  for (auto& r : parse_request_log(dir.file("requests.jsonl"))) {
    if (r.t > reloaded_at + 0.2) ++after_reload[r.group];
    if (r.t > broken_at + 0.2) ++after_broken[r.group];
  }
  for (auto& id : removed) EXPECT_EQ(after_reload.count(id), 0u) << "removed group still polled: " << id;
  for (auto& id : added) EXPECT_GE(after_reload[id], 2) << "added group not polled: " << id;
  EXPECT_GE(after_broken.size(), 20u);  // polling untouched by the bad config
  auto err = read_file(dir.file("gw.err"));
  EXPECT_NE(err.find("config.reload_failed"), std::string::npos);
  EXPECT_NE(err.find("gw.yaml:"), std::string::npos);  // the problem is named with its place
}

TEST(Engine, SighupWithARotatedKeySignsWithItInPlace) {
  TempDir dir;
  emu::Options o;
  o.accept_any_group = true;
  Emulator e(o);
  write_groups(dir, "groups.txt", 20);
  std::string good = app_config(e, dir, dir.file("groups.txt"), 200, "1s");
  dir.write("gw.yaml", good);
  Process gw({GW_BIN, "run", "--config", dir.file("gw.yaml")}, dir.file("gw.out"), dir.file("gw.err"));
  std::this_thread::sleep_for(2500ms);
  ASSERT_EQ(e.server().stats().codes[70003], 0u);
  // The same config again: the app keeps its poller (slots, limiter state).
  gw.signal(SIGHUP);
  std::this_thread::sleep_for(500ms);
  EXPECT_NE(read_file(dir.file("gw.err")).find("apps_kept=1 apps_started=0 apps_restarted=0"), std::string::npos)
      << read_file(dir.file("gw.err"));
  // A new key (wrong for this app): the kept app must sign with it at once,
  // without a restart (same SDKAppID and endpoint: same budget and pool).
  std::string rotated = good;
  rotated.replace(rotated.find(kKey), std::string(kKey).size(), "rotated-key-not-the-apps-0000000");
  dir.write("gw.yaml", rotated);
  gw.signal(SIGHUP);
  std::this_thread::sleep_for(2500ms);
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(10s), 0) << read_file(dir.file("gw.err"));
  EXPECT_GT(e.server().stats().codes[70003], 0u);
  EXPECT_NE(read_file(dir.file("gw.err")).find("app.stopped"), std::string::npos);
  const auto err = read_file(dir.file("gw.err"));
  EXPECT_EQ(err.find("apps_restarted=1"), std::string::npos) << err;
}
