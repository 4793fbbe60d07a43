// The command line as operators and scripts use it (interface.md), through
// the real binary.
#include <gtest/gtest.h>

#include <filesystem>
#include <regex>

#include "groupwatch/delivery/sink.hpp"
#include "harness.hpp"

using namespace gwtest;

TEST(Cli, HelpAndVersion) {
  TempDir dir;
  auto h = run({GW_BIN, "--help"});
  EXPECT_EQ(h.status, 0);
  for (const char* cmd : {"run", "once", "check", "query", "usersig"}) EXPECT_NE(h.out.find(cmd), std::string::npos);
  auto v = run({GW_BIN, "--version"});
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.out, std::string("groupwatch ") + GW_VERSION + "\n");
  auto bad = run({GW_BIN, "frobnicate"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("unknown command 'frobnicate'"), std::string::npos);
}

// The texts an operator reads for a bad command line, exit 2: the same
// since the parsing moved to CLI11.
TEST(Cli, ABadCommandLineSaysWhatIsWrong) {
  const std::pair<std::vector<std::string>, std::string> cases[] = {
      {{GW_BIN, "check", "--config"}, "groupwatch: --config needs a value\n"},
      {{GW_BIN, "check", "-c"}, "groupwatch: --config needs a value\n"},
      {{GW_BIN, "check", "--bogus=1"}, "groupwatch: unknown option '--bogus=1'\n"},
      {{GW_BIN, "-x", "check"}, "groupwatch: unknown option '-x'\n"},
      {{GW_BIN, "once", "--quiet=no"}, "groupwatch: unknown option '--quiet=no'\n"},
      {{GW_BIN, "usersig", "--ttl=0"},
       "groupwatch: --ttl takes a duration of at least 1s, e.g. 3600 (seconds), 90m or "
       "1d; got '0'\n"},
  };
  for (const auto& [args, first_line] : cases) {
    auto r = run(args);
    EXPECT_EQ(r.status, 2) << args[1];
    EXPECT_EQ(r.err.substr(0, first_line.size()), first_line) << r.err;
    EXPECT_NE(r.err.find("Usage:"), std::string::npos) << "the usage follows";
  }
  auto missing = run({GW_BIN, "check", "-c", "/nonexistent/gw.yaml"});
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.err.find("/nonexistent/gw.yaml"), std::string::npos) << "-c names the config: " << missing.err;
  auto late = run({GW_BIN, "check", "/x", "--version"});
  EXPECT_EQ(late.status, 0) << "--version anywhere wins";
  EXPECT_EQ(late.out, std::string("groupwatch ") + GW_VERSION + "\n");
}

TEST(Cli, HelpSinkInfluxdbListsEveryKeyItsParserReads) {
  TempDir dir;
  auto h = run({GW_BIN, "help", "sink", "influxdb"});
  ASSERT_EQ(h.status, 0) << h.err;
  auto keys = groupwatch::delivery::sink_keys("influxdb");
  ASSERT_GE(keys.own.size(), 10u);
  for (const auto& k : keys.own) {
    EXPECT_TRUE(std::regex_search(h.out, std::regex("\\n  " + k + " +[^ (]"))) << k << "\n" << h.out;
  }
  for (const auto& k : keys.delivery) EXPECT_NE(h.out.find("  " + k + " "), std::string::npos) << k;
  EXPECT_EQ(h.out.find("(undocumented)"), std::string::npos) << h.out;
  auto types = run({GW_BIN, "help", "sinks"});
  EXPECT_EQ(types.status, 0);
  for (const char* t : {"ndjson", "sqlite", "postgres", "influxdb", "prometheus"})
    EXPECT_NE(types.out.find(t), std::string::npos) << t;
  auto unknown = run({GW_BIN, "help", "sink", "kafka"});
  EXPECT_EQ(unknown.status, 2);
  EXPECT_NE(unknown.err.find("unknown sink type 'kafka'"), std::string::npos) << unknown.err;
}

TEST(Cli, HelpOnACommandOrAnUnknownTopic) {
  TempDir dir;
  auto check = run({GW_BIN, "check", "--help"});
  EXPECT_EQ(check.status, 0);
  EXPECT_EQ(check.out.rfind("groupwatch check", 0), 0u) << check.out;
  auto query = run({GW_BIN, "help", "query"});
  EXPECT_EQ(query.status, 0);
  EXPECT_EQ(query.out.rfind("groupwatch query", 0), 0u) << query.out;
  auto foo = run({GW_BIN, "help", "foo"});
  EXPECT_EQ(foo.status, 2);
  EXPECT_NE(foo.err.find("no help on 'foo'"), std::string::npos) << foo.err;
  auto bar = run({GW_BIN, "bar", "--help"});
  EXPECT_EQ(bar.status, 2);
}

namespace {
// config/ copied as it is installed (/etc/groupwatch), plus the key file the
// default config reads (mode 0600, as the README tells the operator).
void install_config_dir(const TempDir& dir, bool with_key) {
  if (!std::filesystem::exists(dir.file("etc")))
    std::filesystem::copy(std::string(GW_SOURCE_DIR) + "/config", dir.file("etc"),
                          std::filesystem::copy_options::recursive);
  if (with_key) {
    dir.write("etc/secret_key", kKey);
    std::filesystem::permissions(dir.file("etc/secret_key"), std::filesystem::perms::owner_read,
                                 std::filesystem::perm_options::replace);
  }
}
}  // namespace

TEST(Cli, CheckAcceptsEveryShippedConfig) {
  TempDir dir;
  install_config_dir(dir, true);
  Emulator emu({});
  emu.write_ca(dir.file("demo-ca.pem"));  // what scripts/demo writes before it starts groupwatch
  int n = 0;
  for (auto& f : std::filesystem::directory_iterator(dir.file("etc"))) {
    if (f.path().extension() != ".yaml") continue;
    ++n;
    auto r = run({GW_BIN, "check", "--config", f.path().string()}, {.timeout = 60s,
                                                                    .env = {{"TIM_SECRET_KEY", "k-0123456789abcdef"},
                                                                            {"GW_DEMO_STATE", dir.file("demo")},
                                                                            {"GW_DEMO_CA", dir.file("demo-ca.pem")},
                                                                            {"GW_STATE_DIR", dir.file("state")}}});
    EXPECT_EQ(r.status, 0) << f.path() << "\n" << r.err;
    EXPECT_NE(r.out.find("cycle load"), std::string::npos) << r.out;
  }
  EXPECT_GE(n, 2);
}

// The installed default config targets the vendor (region + key file): with
// the key file present check accepts it and run starts (admin answers, the
// state_dir is taken); without it both say which file is missing and exit 2.
TEST(Cli, TheInstalledDefaultConfigChecksAndStarts) {
  TempDir dir;
  install_config_dir(dir, false);
  const std::string cfg = dir.file("etc/groupwatch.yaml");
  const std::uint16_t port = free_port();
  std::map<std::string, std::string> env{{"GW_STATE_DIR", dir.file("state")},
                                         {"GW_ADMIN_LISTEN", "127.0.0.1:" + std::to_string(port)}};
  auto missing = run({GW_BIN, "check", "--config", cfg}, {.timeout = 60s, .env = env});
  EXPECT_EQ(missing.status, 2);
  EXPECT_NE(missing.err.find("secret_key_file"), std::string::npos) << missing.err;
  EXPECT_EQ(run({GW_BIN, "run", "--config", cfg}, {.timeout = 60s, .env = env}).status, 2);

  install_config_dir(dir, true);
  auto ok = run({GW_BIN, "check", "--config", cfg}, {.timeout = 60s, .env = env});
  EXPECT_EQ(ok.status, 0) << ok.err;
  EXPECT_NE(ok.out.find("adminapisgp.im.qcloud.com"), std::string::npos) << ok.out;
  Process gw({GW_BIN, "run", "--config", cfg}, dir.file("gw.out"), dir.file("gw.err"), env);
  bool listening = false;
  for (int i = 0; i < 100 && !listening; ++i) {
    std::this_thread::sleep_for(50ms);
    listening = read_file(dir.file("gw.err")).find("event=admin.listening") != std::string::npos;
  }
  EXPECT_TRUE(listening) << read_file(dir.file("gw.err"));
  auto health = run({"/usr/bin/curl", "-s", "http://127.0.0.1:" + std::to_string(port) + "/healthz"}, {.timeout = 10s});
  EXPECT_EQ(health.status, 0) << health.err;
  EXPECT_TRUE(std::filesystem::exists(dir.file("state/groupwatch.lock")));
  EXPECT_EQ(gw.wait(0ms), -1) << "run exited: " << read_file(dir.file("gw.err"));
  gw.signal(SIGTERM);
  EXPECT_EQ(gw.wait(30s), 0) << read_file(dir.file("gw.err"));
}

TEST(Cli, CheckNamesFiveMistakesWithFileLineAndColumn) {
  TempDir dir;
  dir.write("bad.yaml",
            "apps:\n"
            "  - name: a\n"
            "    sdkappid: 1400000001\n"
            "    admin: administrator\n"
            "    secret_key: abcdefgh\n"
            "    region: atlantis\n"         // 6: unknown region
            "    qps: -5\n"                  // 7: qps not positive
            "    groups: [\"has space\"]\n"  // 8: bad group ID
            "poll:\n"
            "  interval: 4 minutes\n"  // 10: bad duration
            "  colour: blue\n"         // 11: unknown key
            "sinks:\n"
            "  - type: sqlite\n"
            "    path: x.db\n");
  auto r = run({GW_BIN, "check", "--config", dir.file("bad.yaml")});
  EXPECT_EQ(r.status, 2);
  for (int line : {6, 7, 8, 10, 11}) {
    std::regex re(dir.file("bad.yaml") + ":" + std::to_string(line) + ":[0-9]+: ");
    EXPECT_TRUE(std::regex_search(r.err, re)) << "no error on line " << line << ":\n" << r.err;
  }
  EXPECT_EQ(r.err.find("abcdefgh"), std::string::npos);  // never the secret
  // Errors carry "error:" and come before any warning.
  EXPECT_NE(r.err.find(": error: "), std::string::npos) << r.err;
}

TEST(Cli, CheckNamesAnUnknownSinkTypeAndListsTheKnownOnes) {
  TempDir dir;
  dir.write("gw.yaml",
            "apps:\n  - {name: a, sdkappid: 1, admin: x, secret_key: abcdefgh, endpoint: 'https://127.0.0.1:1', "
            "groups: ['@TGS#_@TGS#AAAAAAAAAAAA']}\n"
            "sinks:\n  - type: kafka\n");
  auto r = run({GW_BIN, "check", "--config", dir.file("gw.yaml")});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find("unknown sink type 'kafka'"), std::string::npos) << r.err;
  for (const char* t : {"ndjson", "sqlite", "postgres", "influxdb", "prometheus"})
    EXPECT_NE(r.err.find(t), std::string::npos) << t;
}

TEST(Cli, UsersigVerifiesWithAnIndependentImplementation) {
  TempDir dir;
  dir.write("gw.yaml", std::string("apps:\n  - name: a\n    sdkappid: 1400000123\n    admin: administrator\n") +
                           "    secret_key: " + kKey +
                           "\n    endpoint: https://127.0.0.1:1\n    groups: ['@TGS#_@TGS#AAAAAAAAAAAA']\n"
                           "sinks:\n  - type: ndjson\n    path: '-'\n");
  auto r = run({GW_BIN, "usersig", "--config", dir.file("gw.yaml"), "--ttl", "600"});
  ASSERT_EQ(r.status, 0) << r.err;
  // Durations work here as everywhere else; nonsense is refused.
  EXPECT_EQ(run({GW_BIN, "usersig", "--config", dir.file("gw.yaml"), "--ttl", "1h"}).status, 0);
  auto bad = run({GW_BIN, "usersig", "--config", dir.file("gw.yaml"), "--ttl", "soon"});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("--ttl takes a duration"), std::string::npos) << bad.err;
  ASSERT_EQ(r.out.back(), '\n');
  std::string sig = r.out.substr(0, r.out.size() - 1);
  EXPECT_EQ(sig.find('\n'), std::string::npos);  // nothing else on stdout
  dir.write("sig.txt", sig);
  std::string py = std::string("python3 ") + GW_SOURCE_DIR + "/scripts/verify_usersig.py --sdkappid 1400000123 " +
                   "--identifier administrator --key " + kKey + " < " + dir.file("sig.txt");
  EXPECT_EQ(std::system(py.c_str()), 0);
  std::string wrong = std::string("python3 ") + GW_SOURCE_DIR + "/scripts/verify_usersig.py --sdkappid 1400000123 " +
                      "--identifier administrator --key other-key < " + dir.file("sig.txt") + " 2>/dev/null";
  EXPECT_NE(std::system(wrong.c_str()), 0);
}

TEST(Cli, QueryPrintsOneLinePerGroupAgainstTheEmulator) {
  TempDir dir;
  groupwatch::emulator::Options o;
  auto ids = write_groups(dir, "groups.txt", 3);
  for (auto& id : ids) o.groups.push_back({id});
  Emulator e(o);
  dir.write("gw.yaml", app_config(e, dir, dir.file("groups.txt"), 200, "4m"));
  auto ok = run({GW_BIN, "query", "--config", dir.file("gw.yaml"), ids[0], ids[1]});
  EXPECT_EQ(ok.status, 0) << ok.err;
  auto lines = lines_of(ok.out);
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_TRUE(
      std::regex_match(lines[0], std::regex(std::regex_replace(ids[0], std::regex("[#@]"), "\\$&") + "\t[0-9]+")))
      << lines[0];
  auto missing = run({GW_BIN, "query", "--config", dir.file("gw.yaml"), ids[2], "@TGS#_@TGS#NOSUCHGROUP1"});
  EXPECT_EQ(missing.status, 1);
  auto l2 = lines_of(missing.out);
  ASSERT_EQ(l2.size(), 2u);
  EXPECT_NE(l2[1].find("error 10010"), std::string::npos) << l2[1];
}
