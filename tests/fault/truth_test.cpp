// Operations that tell the truth: a reload applies what it says (sinks, log
// level) or refuses the whole of it; `check` fails where `run` would; a busy
// admin port is a start-up error. Real binary, real emulator.
#include <gtest/gtest.h>

#include <regex>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "fault/fault.hpp"

using namespace gwfault;

// The issue: "Adding an ndjson sink and log.level: debug, then kill -HUP:
// config reloaded ..., no file, no debug line."
TEST(Truth, ReloadAddsASinkAndRaisesTheLogLevel) {
  TempDir dir;
  Emulator e = emulator_for(dir, 40);
  Cfg c = config_for(e, dir, "2s");
  c.sinks = {"  - type: sqlite\n    path: " + dir.file("gw.db") + "\n"};
  Process gw = start_run(dir, c);
  ASSERT_TRUE(log_says_within(dir, "cycle.done", 20s));
  EXPECT_EQ(read_file(dir.file("gw.err")).find("level=debug"), std::string::npos);

  c.sinks.push_back(ndjson_sink(dir.file("added.ndjson")));
  c.extra_top = "log:\n  level: debug\n";
  reload(gw, dir, c);
  ASSERT_TRUE(wait_for([&] { return parse_ndjson(dir.file("added.ndjson")).size() >= 40; }, 20s))
      << "the added sink got no results\n"
      << read_file(dir.file("gw.err"));
  const auto err = read_file(dir.file("gw.err"));
  const auto reload_at = err.find("event=config.reload ");
  ASSERT_NE(reload_at, std::string::npos) << err;
  const auto reload_line = err.substr(reload_at, err.find('\n', reload_at) - reload_at);
  EXPECT_NE(reload_line.find("changed=log,sinks"), std::string::npos) << reload_line;
  EXPECT_NE(reload_line.find("sinks_added=ndjson"), std::string::npos) << reload_line;
  EXPECT_NE(err.find("level=debug", reload_at), std::string::npos) << "no debug line after the reload:\n" << err;

  // And back: the sink removed, info again.
  c.sinks.pop_back();
  c.extra_top = "log:\n  level: info\n";
  reload(gw, dir, c);
  ASSERT_TRUE(wait_for([&] { return count_of(read_file(dir.file("gw.err")), "event=config.reload ") >= 2; }, 10s));
  std::this_thread::sleep_for(500ms);
  const auto lines = parse_ndjson(dir.file("added.ndjson")).size();
  std::this_thread::sleep_for(2500ms);  // more than a cycle
  EXPECT_EQ(parse_ndjson(dir.file("added.ndjson")).size(), lines) << "a removed sink still gets results";
  EXPECT_NE(read_file(dir.file("gw.err")).find("sinks_removed=ndjson"), std::string::npos);
  expect_clean_exit(gw, dir);
}

// A key that cannot change at runtime refuses the whole reload, naming it;
// nothing else of the new file applies.
TEST(Truth, ReloadOfStateDirIsRefusedWhole) {
  TempDir dir;
  Emulator e = emulator_for(dir, 20);
  Cfg c = ndjson_config_for(e, dir, "2s");
  Process gw = start_run(dir, c);
  ASSERT_TRUE(results_within(dir, 20s));
  c.state_dir = dir.file("elsewhere");
  c.sinks.push_back(ndjson_sink(dir.file("never.ndjson")));
  reload(gw, dir, c);
  ASSERT_TRUE(log_says_within(dir, "reload refused", 10s));
  std::this_thread::sleep_for(2500ms);
  const auto err = read_file(dir.file("gw.err"));
  EXPECT_NE(err.find("key=state_dir"), std::string::npos) << err;
  EXPECT_EQ(err.find("event=config.reload "), std::string::npos) << err;
  EXPECT_FALSE(fs::exists(dir.file("never.ndjson")));
  gw.signal(SIGTERM);
  EXPECT_EQ(gw.wait(30s), 0) << err;
}

// The issue: "A missing ca_file: check says config OK, run prints a
// plain-text error and exits 1".
TEST(Truth, CheckAndRunBothRefuseAMissingCaFileWithExit2) {
  TempDir dir;
  Emulator e = emulator_for(dir, 5);
  Cfg c = ndjson_config_for(e, dir);
  c.ca_file = dir.file("no-such-ca.pem");
  c.extra_top = "log:\n  format: json\n";
  dir.write("gw.yaml", yaml(c));
  auto check = run({GW_BIN, "check", "--config", dir.file("gw.yaml")});
  EXPECT_EQ(check.status, 2) << check.out << check.err;
  EXPECT_NE(check.err.find("no-such-ca.pem"), std::string::npos) << check.err;
  EXPECT_NE(check.err.find(": error: "), std::string::npos) << check.err;
  EXPECT_EQ(check.out.find("config OK"), std::string::npos) << check.out;
  auto r = run({GW_BIN, "run", "--config", dir.file("gw.yaml")}, {.timeout = 20s});
  EXPECT_EQ(r.status, 2) << r.err;
  // Through the logger, in the configured format.
  bool json_line = false;
  for (const auto& l : lines_of(r.err)) {
    if (l.find("no-such-ca.pem") != std::string::npos && l.front() == '{') json_line = true;
  }
  EXPECT_TRUE(json_line) << r.err;
  EXPECT_EQ(e.server().stats().requests, 0u);  // nothing was sent
}

// The issue: "If the admin port is busy the daemon logs once and runs
// without it."
TEST(Truth, ABusyAdminPortIsAStartUpErrorAndARefusedReload) {
  TempDir dir;
  Emulator e = emulator_for(dir, 5);
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor busy(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  const auto port = std::to_string(busy.local_endpoint().port());
  Cfg c = ndjson_config_for(e, dir, "2s");
  c.admin_port = busy.local_endpoint().port();
  dir.write("gw.yaml", yaml(c));
  auto r = run({GW_BIN, "run", "--config", dir.file("gw.yaml")}, {.timeout = 20s});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("127.0.0.1:" + port), std::string::npos) << r.err;

  // Running without admin, then a reload onto the busy port: refused whole.
  c.admin_port = 0;
  Process gw = start_run(dir, c);
  ASSERT_TRUE(results_within(dir, 20s));
  c.admin_port = busy.local_endpoint().port();
  c.extra_top = "log:\n  level: debug\n";
  reload(gw, dir, c);
  ASSERT_TRUE(log_says_within(dir, "reload refused", 10s));
  std::this_thread::sleep_for(1s);
  const auto err = read_file(dir.file("gw.err"));
  EXPECT_NE(err.find("admin.listen 127.0.0.1:" + port), std::string::npos) << err;
  EXPECT_EQ(err.find("level=debug"), std::string::npos) << "the refused reload's log level applied:\n" << err;
  gw.signal(SIGTERM);
  EXPECT_EQ(gw.wait(30s), 0) << err;
}

namespace {
std::vector<std::string> lines_with(const std::string& text, const std::string& what) {
  std::vector<std::string> out;
  for (auto& l : lines_of(text))
    if (l.find(what) != std::string::npos) out.push_back(l);
  return out;
}
std::uint64_t field_of(const std::string& line, const std::string& key) {
  auto p = line.find(" " + key + "=");
  return p == std::string::npos ? UINT64_MAX : std::stoull(line.substr(p + key.size() + 2));
}
}  // namespace

// The issue: "cycle.overrun says 'more groups than qps x interval' with
// capacity=6000 for 5,000 groups when the real cause was vendor throttling;
// cycle.done results=3563 for 3000 groups; a rate-lowered warning every ~3 s".
TEST(Truth, OverrunNamesThrottlingAndCycleCountsArePerCycle) {
  TempDir dir;
  emu::Options o;
  o.apps.push_back({kAppId, kKey, "administrator", 60});  // the server allows 60/s
  groups_into(dir, o, "groups.txt", 150);
  Emulator e(o);
  Cfg c = ndjson_config_for(e, dir, "2s");  // capacity 400 at qps 200: enough, were it not for the throttling
  Process gw = start_run(dir, c);
  std::this_thread::sleep_for(9s);
  gw.signal(SIGTERM);
  EXPECT_EQ(gw.wait(30s), 0);
  const auto err = read_file(dir.file("gw.err"));
  auto overruns = lines_with(err, "event=cycle.overrun");
  ASSERT_FALSE(overruns.empty()) << err;
  EXPECT_NE(overruns[0].find("rate-limit answers lowered the rate"), std::string::npos) << overruns[0];
  EXPECT_EQ(overruns[0].find("more groups than qps x interval"), std::string::npos) << overruns[0];
  // One warning for a throttled stretch of 9 s, not one every few seconds.
  EXPECT_LE(lines_with(err, "event=app.rate_lowered").size(), 1u) << err;
  for (const auto& l : lines_with(err, "event=app.rate_lowered"))
    EXPECT_TRUE(std::regex_search(l, std::regex(" qps=[0-9]+(\\.[0-9]{1,3})? "))) << l;
  for (const auto& l : lines_with(err, "event=cycle.done")) {
    EXPECT_LE(field_of(l, "results"), 2 * 150u) << l;  // this cycle's, not since start
    EXPECT_NE(field_of(l, "dispatched"), UINT64_MAX) << l;
  }
}

TEST(Truth, OverrunNamesTooManyGroupsForTheCap) {
  TempDir dir;
  Emulator e = emulator_for(dir, 120);
  Cfg c = ndjson_config_for(e, dir, "1s");
  c.qps = 50;  // capacity 50 a cycle for 120 groups
  Process gw = start_run(dir, c);
  std::this_thread::sleep_for(4s);
  gw.signal(SIGTERM);
  EXPECT_EQ(gw.wait(30s), 0);
  auto overruns = lines_with(read_file(dir.file("gw.err")), "event=cycle.overrun");
  ASSERT_FALSE(overruns.empty());
  EXPECT_NE(overruns[0].find("more groups than qps x interval"), std::string::npos) << overruns[0];
  EXPECT_NE(overruns[0].find("capacity=50 "), std::string::npos) << overruns[0];
}
