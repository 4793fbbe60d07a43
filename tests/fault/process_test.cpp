// The process under stress: SIGHUP every second under load, and a state_dir
// that cannot be used (not a directory, a full filesystem).
#include <gtest/gtest.h>

#include <iostream>

#include "fault/fault.hpp"

using namespace gwfault;

// The issue: "SIGHUP every second for 30 s under load".
TEST(Process, SighupEverySecondForThirtySecondsUnderLoad) {
  TempDir dir;
  std::vector<std::string> ids;
  Emulator e = logging_emulator_for(dir, 1000, ids);
  Cfg c = ndjson_config_for(e, dir, "6s");
  Process gw = start_run(dir, c);
  sleep_s(2);
  const double from = now_unix();
  for (int i = 0; i < 30; ++i) {
    gw.signal(SIGHUP);
    sleep_s(from + i + 1 - now_unix());
    ASSERT_EQ(gw.wait(0ms), -1) << "exited after " << i + 1 << " SIGHUPs: " << read_file(dir.file("gw.err"));
  }
  const double to = now_unix();
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(20s), 0) << read_file(dir.file("gw.err"));
  e.stop();

  // Results kept flowing: every group answered in each of the ~5 cycles,
  // and no 2-second stretch went without results.
  std::map<std::string, int> per_group;
  std::map<int, std::size_t> per_2s;
  for (auto& l : parse_ndjson(dir.file("out.ndjson"))) {
    double t = parse_rfc3339(l.time);
    if (t < from || t >= to) continue;
    if (l.error_code == 0) ++per_group[l.group_id];
    ++per_2s[static_cast<int>((t - from) / 2)];
  }
  int fewest = INT32_MAX, most = 0;
  for (auto& id : ids) {
    fewest = std::min(fewest, per_group[id]);
    most = std::max(most, per_group[id]);
  }
  EXPECT_GE(fewest, 4);  // 30 s = 5 cycles; the first or last may be partial
  EXPECT_LE(most, 6);    // and never more than one result per cycle
  std::size_t slowest = SIZE_MAX;
  for (int b = 0; b < 15; ++b) slowest = std::min(slowest, per_2s[b]);
  EXPECT_GT(slowest, 200u);  // fair share: 1000 / 6 s * 2 s = 333
  auto st = e.server().stats();
  EXPECT_EQ(st.codes[60007], 0u);
  EXPECT_LE(st.apps[kAppId].max_window, 200u);
  auto err = read_file(dir.file("gw.err"));
  std::size_t reloads = 0;
  for (auto& l : lines_of(err)) reloads += l.find("event=config.reload ") != std::string::npos;
  EXPECT_GE(reloads, 29u);
  std::cout << "FIGURES sighup reloads=" << reloads << " fewest_ok_per_group=" << fewest
            << " most_ok_per_group=" << most << " slowest_2s_results=" << slowest << " 60007=" << st.codes[60007]
            << " max_window=" << st.apps[kAppId].max_window << "\n";
}

namespace {

std::string minimal_config(const TempDir& dir, const std::string& state_dir) {
  write_groups(dir, "groups.txt", 5);
  Cfg c;
  c.endpoint = "https://127.0.0.1:9";
  c.groups_file = dir.file("groups.txt");
  c.state_dir = state_dir;
  c.sinks = {ndjson_sink(dir.file("out.ndjson"))};
  return yaml(c);
}

}  // namespace

TEST(Process, StateDirUnderARegularFileIsAClearStartupError) {
  TempDir dir;
  dir.write("gw.yaml", minimal_config(dir, "/dev/null/x"));
  auto r = run({GW_BIN, "run", "--config", dir.file("gw.yaml")}, {.timeout = 20s});
  // A state_dir that cannot be used is a config problem (exit 2, no restart
  // loop under systemd), found when the daemon takes its state_dir lock.
  EXPECT_EQ(r.status, 2) << r.err;
  auto line = log_line_with(r.err, {"state_dir", "/dev/null/x"});
  EXPECT_FALSE(line.empty()) << r.err;
  EXPECT_NE(line.find("ot a directory"), std::string::npos) << line;
  std::cout << "FIGURES state_dir_file status=" << r.status << " line=" << line << "\n";
}

TEST(Process, FullStateDirFilesystemIsAClearStartupError) {
  TempDir dir;
  SmallTmpfs small(dir, "64k");
  if (!small.why_not.empty()) GTEST_SKIP() << small.why_not;
  const std::string& mnt = small.path;
  fs::create_directories(mnt + "/state/spool");
  ASSERT_TRUE(small.fill());
  dir.write("gw.yaml", minimal_config(dir, mnt + "/state"));
  auto r = run({GW_BIN, "run", "--config", dir.file("gw.yaml")}, {.timeout = 20s});
  EXPECT_EQ(r.status, 1) << r.err;
  auto line = log_line_with(r.err, {"state_dir", mnt + "/state"});
  EXPECT_FALSE(line.empty()) << r.err;
  EXPECT_NE(line.find("No space left on device"), std::string::npos) << line;
  std::cout << "FIGURES state_dir_full status=" << r.status << " line=" << line << "\n";
}
