// The list command allows one call a second per SDKAppID, whoever makes it:
// two `apps` entries of one SDKAppID share one discovery limiter, and
// `groupwatch discover` beside the running daemon lists through it.
#include <gtest/gtest.h>

#include "fault/fault.hpp"

using namespace gwfault;

TEST(DiscoveryBudget, TwoEntriesAndADiscoverBesideTheDaemonShareOneListLimiter) {
  TempDir dir;
  emu::Options o;
  auto ids = emu::generate_group_ids(25000, 5);  // three pages
  for (std::size_t i = 0; i < ids.size(); ++i)
    o.groups.push_back({ids[i], i % 50 == 0 ? emu::GroupType::community : emu::GroupType::public_group});
  Emulator e(o);
  Cfg c = config_for(e, dir);
  dir.write("groups.txt", "");
  c.interval = "8s";
  c.extra_app =
      "    discover: {every: 5s}\n"
      "  - name: second\n"
      "    sdkappid: " +
      std::to_string(kAppId) + "\n    admin: administrator\n    secret_key: " + kKey + "\n    endpoint: " + c.endpoint +
      "\n    ca_file: " + c.ca_file + "\n    discover: {every: 5s}\n";
  c.sinks = {ndjson_sink(dir.file("out.ndjson"))};
  Process gw = start_run(dir, c);
  ASSERT_TRUE(wait_for([&] { return count_of(read_file(dir.file("gw.err")), "discovery.listed") >= 2; }, 40s))
      << read_file(dir.file("gw.err"));
  // While both entries keep listing, a preview asks the daemon.
  auto r = run({GW_BIN, "discover", "--config", dir.file("gw.yaml"), "--app", "test"});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(count_of(r.out, "\tCommunity\t"), 500u);
  EXPECT_NE(r.out.find("listed through the running daemon"), std::string::npos) << r.out;
  sleep_s(6);
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(20s), 0) << read_file(dir.file("gw.err"));
  auto st = e.server().stats();
  EXPECT_LE(st.apps[kAppId].list_max_window, 1u);
  EXPECT_GE(st.apps[kAppId].list_calls, 9u);  // two entries and the preview, three pages each
  EXPECT_EQ(st.codes[60007], 0u);
  EXPECT_NE(log_line_with(read_file(dir.file("gw.err")), {"control.ask", "listing groups for a local discover"}), "");
}
