// The emulator's file loaders and command line.
#include "groupwatch/emulator/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "support/harness.hpp"

namespace {

using namespace groupwatch::emulator;
using gw_test::thrown_by;
namespace fs = std::filesystem;

class TempFile {
 public:
  explicit TempFile(const std::string& content, const std::string& ext = ".yaml") {
    static int n = 0;
    path_ = fs::temp_directory_path() / ("gw-emu-cfg-" + std::to_string(::getpid()) + "-" + std::to_string(n++) + ext);
    std::ofstream(path_) << content;
  }
  ~TempFile() { fs::remove(path_); }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

std::optional<CommandLine> parse(std::vector<const char*> args, std::string* error) {
  return parse_command_line(std::span<const char* const>(args.data(), args.size()), error);
}

TEST(EmulatorConfig, LoadsApps) {
  TempFile f(R"(- sdkappid: 1400000001
  secret_key: k1
- sdkappid: 1400000002
  secret_key: k2
  admin: root
  qps: 50
)");
  const auto apps = load_apps_yaml(f.str());
  ASSERT_EQ(apps.size(), 2u);
  EXPECT_EQ(apps[0].sdkappid, 1400000001u);
  EXPECT_EQ(apps[0].admin, "administrator");
  EXPECT_EQ(apps[0].qps, 200u);
  EXPECT_EQ(apps[1].admin, "root");
  EXPECT_EQ(apps[1].qps, 50u);
}

TEST(EmulatorConfig, RejectsBadAppsWithTheirPosition) {
  TempFile unknown("- sdkappid: 1\n  secret_key: k\n  secrte: x\n");
  const auto e1 = thrown_by([&] { load_apps_yaml(unknown.str()); });
  EXPECT_NE(e1.find(unknown.str() + ":3:"), std::string::npos) << e1;
  EXPECT_NE(e1.find("unknown key 'secrte'"), std::string::npos) << e1;

  TempFile missing("- sdkappid: 1\n");
  EXPECT_NE(thrown_by([&] { load_apps_yaml(missing.str()); }).find("secret_key is required"), std::string::npos);
  TempFile negative("- sdkappid: -5\n  secret_key: k\n");
  EXPECT_NE(thrown_by([&] { load_apps_yaml(negative.str()); }).find("sdkappid must be"), std::string::npos);
  TempFile twice("- {sdkappid: 1, secret_key: a}\n- {sdkappid: 1, secret_key: b}\n");
  EXPECT_NE(thrown_by([&] { load_apps_yaml(twice.str()); }).find("twice"), std::string::npos);
  const auto e2 = thrown_by([] { load_apps_yaml("/nonexistent/apps.yaml"); });
  EXPECT_NE(e2.find("cannot read"), std::string::npos) << e2;
  // Secrets never appear in messages.
  TempFile secret("- sdkappid: x1\n  secret_key: supersecret\n");
  EXPECT_EQ(thrown_by([&] { load_apps_yaml(secret.str()); }).find("supersecret"), std::string::npos);
}

TEST(EmulatorConfig, LoadsGroupText) {
  TempFile f("# watchlist\n@TGS#_@TGS#AAAAAAAAAAAA\n\n  @TGS#_@TGS#BBBBBBBBBBBB   # vip\r\n   # indented comment\n",
             ".txt");
  const auto g = load_groups_text(f.str());
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].id, "@TGS#_@TGS#AAAAAAAAAAAA");
  EXPECT_EQ(g[1].id, "@TGS#_@TGS#BBBBBBBBBBBB");
  EXPECT_EQ(g[1].type, GroupType::community);
  TempFile two("@TGS#_A @TGS#_B\n", ".txt");
  EXPECT_NE(thrown_by([&] { load_groups_text(two.str()); }).find(":1: one group ID per line"), std::string::npos);
}

TEST(EmulatorConfig, LoadsGroupYaml) {
  TempFile f(R"(- id: "@TGS#_@TGS#AAAAAAAAAAAA"
- {id: "@TGS#_@TGS#PUB", type: Public}
- {id: "@TGS#_@TGS#F", fault: reset}
- {id: "@TGS#_@TGS#G", type: AVChatRoom, fault: "10002"}
- "@TGS#_@TGS#PLAIN"
)");
  const auto g = load_groups_yaml(f.str());
  ASSERT_EQ(g.size(), 5u);
  EXPECT_EQ(g[1].type, GroupType::public_group);
  EXPECT_EQ(g[2].fault, Fault::reset);
  EXPECT_EQ(g[3].type, GroupType::avchatroom);
  EXPECT_EQ(g[3].fault, Fault::e10002);
  EXPECT_EQ(g[4].id, "@TGS#_@TGS#PLAIN");
  TempFile empty("");
  EXPECT_TRUE(load_groups_yaml(empty.str()).empty());
  EXPECT_NE(thrown_by([&] { load_apps_yaml(empty.str()); }).find("no apps"), std::string::npos);
  TempFile bad("- {id: x, type: Secret}\n");
  EXPECT_NE(thrown_by([&] { load_groups_yaml(bad.str()); }).find(":1:"), std::string::npos);
  TempFile badfault("- {id: x, fault: explode}\n");
  EXPECT_NE(thrown_by([&] { load_groups_yaml(badfault.str()); }).find("fault must be"), std::string::npos);
}

TEST(EmulatorConfig, GroupYamlTakesNames) {
  TempFile f(
      "- {id: \"@TGS#_@TGS#NAMED\", name: \"VIP \\\"lounge\\\" 会员\"}\n"
      "- {id: \"@TGS#_@TGS#NONAME\", type: ChatRoom}\n");
  const auto g = load_groups_yaml(f.str());
  ASSERT_EQ(g.size(), 2u);
  EXPECT_EQ(g[0].name, "VIP \"lounge\" 会员");
  EXPECT_EQ(g[1].name, "");
  EXPECT_EQ(default_group_name(g[1].id), "Group NONAME");
  TempFile listed("- {id: x, name: [a, b]}\n");
  EXPECT_NE(thrown_by([&] { load_groups_yaml(listed.str()); }).find("name must be a scalar"), std::string::npos);
}

TEST(EmulatorConfig, CommandLineDefaultsAreTheDemo) {
  std::string err;
  const auto cl = parse({}, &err);
  ASSERT_TRUE(cl) << err;
  const auto& o = cl->server;
  EXPECT_EQ(o.address, "127.0.0.1");
  EXPECT_EQ(o.port, 18443);
  EXPECT_TRUE(o.tls);
  ASSERT_EQ(o.apps.size(), 1u);
  EXPECT_EQ(o.apps[0].sdkappid, 1400000001u);
  EXPECT_EQ(o.apps[0].secret_key, "demo-secret-key-0123456789abcdef");
  EXPECT_EQ(o.apps[0].admin, "administrator");
  EXPECT_EQ(o.apps[0].qps, 200u);
  EXPECT_TRUE(o.accept_any_group) << "no groups given";
  EXPECT_EQ(o.refresh, std::chrono::minutes(4));
}

TEST(EmulatorConfig, CommandLineOptions) {
  std::string err;
  const auto cl = parse({"--listen",  "0.0.0.0:0", "--plain",     "--sdkappid", "1400000009",     "--secret-key",
                         "abc",       "--qps=50",  "--groups",    "10",         "--seed",         "3",
                         "--refresh", "1m",        "--fault-502", "0.25",       "--latency-dist", "uniform:20ms:80ms",
                         "--stall",   "2s",        "--write-ca",  "/tmp/x.pem"},
                        &err);
  ASSERT_TRUE(cl) << err;
  const auto& o = cl->server;
  EXPECT_EQ(o.address, "0.0.0.0");
  EXPECT_EQ(o.port, 0);
  EXPECT_FALSE(o.tls);
  EXPECT_EQ(o.apps.at(0).sdkappid, 1400000009u);
  EXPECT_EQ(o.apps.at(0).qps, 50u);
  ASSERT_EQ(o.groups.size(), 10u);
  EXPECT_EQ(o.groups[0].id, generate_group_ids(10, 3)[0]);
  EXPECT_FALSE(o.accept_any_group);
  EXPECT_EQ(o.refresh, std::chrono::minutes(1));
  EXPECT_DOUBLE_EQ(o.faults.http502, 0.25);
  EXPECT_EQ(o.latency.min, std::chrono::milliseconds(20));
  EXPECT_EQ(o.latency.max, std::chrono::milliseconds(80));
  EXPECT_EQ(o.stall, std::chrono::seconds(2));
  EXPECT_EQ(cl->write_ca, "/tmp/x.pem");
}

// The one rate check the fault options and the control endpoint share.
TEST(EmulatorConfig, ARateIsANumberFrom0To1) {
  EXPECT_EQ(parse_rate("0"), 0.0);
  EXPECT_EQ(parse_rate("0.25"), 0.25);
  EXPECT_EQ(parse_rate("1"), 1.0);
  for (const char* bad : {"", "-0.1", "1.01", "x", "0.5x", "nan", "inf", " 0.5"}) EXPECT_FALSE(parse_rate(bad)) << bad;
}

// The texts the emulator prints for a bad command line: the same since the
// parsing moved to CLI11.
TEST(EmulatorConfig, CommandLineErrorsAreClear) {
  const std::pair<std::vector<const char*>, std::string> cases[] = {
      {{"--bogus"}, "unknown option '--bogus' (see --help)"},
      {{"--bogus=3"}, "unknown option '--bogus' (see --help)"},
      {{"stray"}, "unknown option 'stray' (see --help)"},
      {{"--plain=x"}, "--plain takes no value (see --help)"},
      {{"--qps"}, "--qps needs a value"},
      {{"--qps", "x"}, "--qps: 'x' is not a number in 0..1000000"},
      {{"--qps=1000001"}, "--qps: '1000001' is not a number in 0..1000000"},
      {{"--refresh", "soon"}, "--refresh: 'soon' is not a duration (250ms, 5s, 4m)"},
      {{"--refresh", "0s"}, "--refresh must be positive"},
      {{"--fault-reset", "2"}, "--fault-reset: '2' is not a rate in 0..1"},
      {{"--fault-reset", "0.6", "--fault-502", "0.6"}, "fault rates add up to more than 1"},
      {{"--latency-dist", "normal:1ms:2ms"}, "--latency-dist: uniform:MIN:MAX expected (uniform:20ms:80ms)"},
      {{"--apps", "a.yaml", "--qps", "5"}, "--apps and --sdkappid/--secret-key/--admin/--qps do not go together"},
      {{"--secret-key", ""}, "--secret-key is empty"},
  };
  for (const auto& [args, why] : cases) {
    std::string err;
    EXPECT_FALSE(parse(args, &err)) << args.front();
    EXPECT_EQ(err, why) << args.front();
  }
  std::string err;
  EXPECT_FALSE(parse({"--listen", "127.0.0.1"}, &err));
  EXPECT_EQ(err.rfind("--listen: ADDR:PORT expected: ", 0), 0u) << err;
  EXPECT_FALSE(parse({"--listen", "127.0.0.1:99999"}, &err));
  EXPECT_FALSE(parse({"--apps", "/nonexistent.yaml"}, &err));
  EXPECT_NE(err.find("/nonexistent.yaml"), std::string::npos) << err;
}

// Options apply in the order written: the later of two wins.
TEST(EmulatorConfig, TheLaterOfTwoOptionsWins) {
  std::string err;
  auto cl = parse({"--latency-dist", "uniform:1ms:2ms", "--latency", "5ms", "--qps", "7", "--qps=9"}, &err);
  ASSERT_TRUE(cl) << err;
  EXPECT_EQ(cl->server.latency.min, std::chrono::milliseconds(5));
  EXPECT_EQ(cl->server.apps.at(0).qps, 9u);
  cl = parse({"--latency", "5ms", "--latency-dist", "uniform:1ms:2ms"}, &err);
  ASSERT_TRUE(cl) << err;
  EXPECT_EQ(cl->server.latency.max, std::chrono::milliseconds(2));
}

}  // namespace
