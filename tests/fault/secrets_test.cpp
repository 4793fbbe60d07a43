// Secrets: the secret key and every UserSig stay out of the log (at debug
// level), the results, /metrics and /api/status, through faults, expired
// signatures and a bad reload; a key file readable by others is flagged.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <iostream>

#include "fault/fault.hpp"

using namespace gwfault;

TEST(Secrets, NeverInLogsResultsOrAdminPages) {
  TempDir dir;
  emu::Options o;
  o.faults = {.e10002 = 0.05, .http502 = 0.02, .reset = 0.01, .malformed = 0.01};
  // The emulator's clock jumps two days ahead for a moment: every UserSig
  // looks expired (70001) and the engine renews it.
  auto offset = std::make_shared<std::atomic<std::int64_t>>(0);
  o.clock = [offset] { return std::chrono::system_clock::now() + std::chrono::seconds(offset->load()); };
  auto ids = groups_into(dir, o, "groups.txt", 100);
  Emulator e(o);
  Cfg c = ndjson_config_for(e, dir, "2s");
  const auto admin_port = admin_on_free_port(c);
  c.extra_top = "log:\n  level: debug\n";
  const std::string good = yaml(c);
  dir.write("gw.yaml", good);
  const auto t0 = static_cast<std::int64_t>(now_unix());
  Process gw({GW_BIN, "run", "--config", dir.file("gw.yaml")}, dir.file("gw.out"), dir.file("gw.err"));
  sleep_s(3);
  offset->store(2 * 24 * 3600);
  sleep_s(0.6);
  offset->store(0);
  sleep_s(2);
  // A broken config next to the key line: reported, the old one stays.
  std::string bad = good;
  auto at = bad.find("    secret_key:");
  bad.insert(bad.find('\n', at) + 1, "    bogus: [\n");
  dir.write("gw.yaml", bad);
  gw.signal(SIGHUP);
  sleep_s(1.5);
  dir.write("gw.yaml", good);
  gw.signal(SIGHUP);
  sleep_s(1.5);
  const std::string metrics = http_get(admin_port, "/metrics").body;
  const std::string status = http_get(admin_port, "/api/status").body;
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(20s), 0) << read_file(dir.file("gw.err"));
  const auto t1 = static_cast<std::int64_t>(now_unix());
  auto sig = run({GW_BIN, "usersig", "--config", dir.file("gw.yaml")});
  ASSERT_EQ(sig.status, 0) << sig.err;
  auto check = run({GW_BIN, "check", "--config", dir.file("gw.yaml")});
  EXPECT_EQ(check.status, 0) << check.err;

  auto st = e.server().stats();
  EXPECT_GT(st.codes[70001], 0u);  // the expired signatures happened
  EXPECT_GT(st.codes[10002], 0u);
  const std::string log = read_file(dir.file("gw.err"));
  EXPECT_NE(log.find("config.reload_failed"), std::string::npos);
  // A UserSig made seconds ago called expired is clock skew: the app pauses
  // with a line naming the clock (no renew-and-retry loop).
  EXPECT_NE(log.find("differs from the vendor's"), std::string::npos);
  EXPECT_NE(log.find("level=debug"), std::string::npos);
  ASSERT_NE(metrics.find("groupwatch_"), std::string::npos) << metrics;
  ASSERT_NE(status.find('{'), std::string::npos) << status;

  std::vector<std::string> needles = {kKey, "usersig=", "TLS.sig", lines_of(sig.out).at(0)};
  // Every UserSig the engine could have made in the run (the default 1-day
  // lifetime), and the HMAC inside each.
  for (auto& s : usersigs_between(t0 - 2, t1 + 2, 86400)) needles.push_back(s);
  const std::map<std::string, std::string> haystacks = {
      {"stderr log", log},     {"ndjson", read_file(dir.file("out.ndjson"))}, {"/metrics", metrics},
      {"/api/status", status}, {"check output", check.out + check.err},       {"usersig stderr", sig.err}};
  std::size_t found = 0;
  for (auto& [name, text] : haystacks)
    for (auto& n : needles)
      if (text.find(n) != std::string::npos) {
        ++found;
        ADD_FAILURE() << "a secret (" << n.substr(0, 12) << "...) is in the " << name;
      }
  std::cout << "FIGURES secrets needles=" << needles.size()
            << " haystack_bytes=" << log.size() + metrics.size() + status.size() << " found=" << found
            << " 70001=" << st.codes[70001] << "\n";
}

TEST(Secrets, KeyFileReadableByOthersIsFlagged) {
  TempDir dir;
  write_groups(dir, "groups.txt", 3);
  dir.write("key", std::string(kKey) + "\n");
  ASSERT_EQ(::chmod(dir.file("key").c_str(), 0644), 0);
  Cfg c;
  c.endpoint = "https://127.0.0.1:9";
  c.secret = "secret_key_file: " + dir.file("key");
  c.groups_file = dir.file("groups.txt");
  c.state_dir = dir.file("state");
  c.sinks = {ndjson_sink(dir.file("out.ndjson"))};
  dir.write("gw.yaml", yaml(c));
  auto r = run({GW_BIN, "check", "--config", dir.file("gw.yaml")});
  EXPECT_EQ(r.status, 0) << r.err;
  auto warning = log_line_with(r.err, {"warning", "secret_key_file", "0644"});
  EXPECT_FALSE(warning.empty()) << r.err;
  EXPECT_EQ((r.out + r.err).find(kKey), std::string::npos);

  c.extra_top = "strict_permissions: true\n";
  dir.write("strict.yaml", yaml(c));
  auto strict = run({GW_BIN, "check", "--config", dir.file("strict.yaml")});
  EXPECT_EQ(strict.status, 2) << strict.err;
  auto error = log_line_with(strict.err, {"strict.yaml:", "secret_key_file", "(strict_permissions is on)"});
  EXPECT_FALSE(error.empty()) << strict.err;
  auto strict_run = run({GW_BIN, "run", "--config", dir.file("strict.yaml")}, {.timeout = 20s});
  EXPECT_EQ(strict_run.status, 2) << strict_run.err;
  EXPECT_EQ((strict.out + strict.err + strict_run.err).find(kKey), std::string::npos);
  // Mode 0600 is quiet.
  ASSERT_EQ(::chmod(dir.file("key").c_str(), 0600), 0);
  auto quiet = run({GW_BIN, "check", "--config", dir.file("strict.yaml")});
  EXPECT_EQ(quiet.status, 0) << quiet.err;
  EXPECT_EQ(quiet.err.find("secret_key_file"), std::string::npos) << quiet.err;
  std::cout << "FIGURES key_file warning=" << warning << " strict_error=" << error << "\n";
}
