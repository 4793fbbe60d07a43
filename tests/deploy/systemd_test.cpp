// deploy/systemd/groupwatch.service: hardened (systemd-analyze security), valid
// (systemd-analyze verify), and wired to the daemon's contract.
#include <gtest/gtest.h>

#include <regex>
#include <sstream>
#include <string>

#include "deploy/support.hpp"

namespace groupwatch::deploy_test {
namespace {

const std::filesystem::path kUnit = deploy_dir() / "systemd" / "groupwatch.service";
constexpr double kMaxExposure = 1.5;

#define REQUIRE_SYSTEMD_ANALYZE()                                                               \
  ASSERT_TRUE(have_program("systemd-analyze"))                                                  \
      << "systemd-analyze is not installed: these tests need it (scripts/install-deps servers " \
         "installs the 'systemd' package)"

std::string only(const UnitFile& unit, const std::string& section, const std::string& key) {
  const auto s = unit.find(section);
  if (s == unit.end()) return "<no [" + section + "]>";
  const auto k = s->second.find(key);
  if (k == s->second.end()) return "<unset>";
  return k->second.back();  // the last assignment wins, as in systemd
}

TEST(SystemdUnit, SecurityExposureIsAtMostOnePointFive) {
  REQUIRE_SYSTEMD_ANALYZE();
  const auto r = run("systemd-analyze security --offline=true --no-pager " + shell_quote(kUnit.string()));
  ASSERT_EQ(r.status, 0) << r.out;
  std::smatch m;
  ASSERT_TRUE(
      std::regex_search(r.out, m, std::regex(R"(Overall exposure level for groupwatch\.service: ([0-9]+\.[0-9]+))")))
      << "no exposure line in:\n"
      << r.out;
  const double exposure = std::stod(m[1].str());
  EXPECT_LE(exposure, kMaxExposure) << r.out;
  RecordProperty("exposure", m[1].str());
}

// verify checks that every Exec*= binary exists; /usr/bin/groupwatch does not on a build
// machine, so the unit is verified as a copy whose commands point at the built binary.
TEST(SystemdUnit, VerifyPassesWithTheBuiltBinary) {
  REQUIRE_SYSTEMD_ANALYZE();
  TempDir dir;
  std::string text = read_file(kUnit);
  const std::string installed = "/usr/bin/groupwatch ";
  std::size_t replaced = 0;
  for (auto pos = text.find(installed); pos != std::string::npos; pos = text.find(installed, pos)) {
    text.replace(pos, installed.size() - 1, GW_BIN);
    pos += std::string(GW_BIN).size();
    ++replaced;
  }
  ASSERT_EQ(replaced, 3u)
      << "ExecStartPre, ExecStart and the first ExecReload are expected to call /usr/bin/groupwatch";
  const auto copy = dir.path() / "groupwatch.service";
  write_file(copy, text);
  const auto r = run("systemd-analyze verify --no-pager " + shell_quote(copy.string()));
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_EQ(r.out.find("groupwatch.service"), std::string::npos) << r.out;
}

// The shipped unit itself: the only complaint allowed is the binary missing from /usr/bin.
TEST(SystemdUnit, VerifyOfTheShippedUnitOnlyMissesTheBinary) {
  REQUIRE_SYSTEMD_ANALYZE();
  const auto r = run("systemd-analyze verify --no-pager " + shell_quote(kUnit.string()));
  if (r.status == 0) return;  // groupwatch is installed on this machine
  std::istringstream lines(r.out);
  std::string line;
  while (std::getline(lines, line)) {
    if (line.empty()) continue;
    EXPECT_NE(line.find("Command /usr/bin/groupwatch is not executable"), std::string::npos)
        << "unexpected complaint: " << line;
  }
}

TEST(SystemdUnit, FollowsTheDaemonContract) {
  const auto unit = parse_unit(read_file(kUnit));
  EXPECT_EQ(only(unit, "Service", "Type"), "notify");  // READY=1 after config load and sink start
  EXPECT_EQ(only(unit, "Service", "NotifyAccess"), "main");
  EXPECT_EQ(only(unit, "Service", "WatchdogSec"), "30s");  // WATCHDOG=1 from the event loop
  EXPECT_EQ(only(unit, "Service", "Restart"), "on-failure");
  // A system user (sysusers.d) that owns the key file: the reload check reads it too.
  EXPECT_EQ(only(unit, "Service", "User"), "groupwatch");
  EXPECT_EQ(only(unit, "Service", "StateDirectory"), "groupwatch");          // /var/lib/groupwatch
  EXPECT_EQ(only(unit, "Service", "ConfigurationDirectory"), "groupwatch");  // /etc/groupwatch
  const std::string config = "--config /etc/groupwatch/groupwatch.yaml";
  EXPECT_EQ(only(unit, "Service", "ExecStartPre"), "/usr/bin/groupwatch check " + config);
  EXPECT_EQ(only(unit, "Service", "ExecStart"), "/usr/bin/groupwatch run " + config);
  // Reload validates first, so a bad config fails `systemctl reload` instead of being
  // reported only in the log; then SIGHUP.
  const auto& reload = unit.at("Service").at("ExecReload");
  ASSERT_EQ(reload.size(), 2u);
  EXPECT_EQ(reload[0], "/usr/bin/groupwatch check " + config);
  EXPECT_EQ(reload[1], "/bin/sh -c 'kill -HUP $MAINPID'");
  EXPECT_EQ(only(unit, "Install", "WantedBy"), "multi-user.target");
}

TEST(SystemdUnit, KeepsWhatTheDaemonNeedsOpen) {
  const auto unit = parse_unit(read_file(kUnit));
  const auto& service = unit.at("Service");
  // The vendor is on the internet and sd_notify is an AF_UNIX datagram.
  EXPECT_EQ(only(unit, "Service", "RestrictAddressFamilies"), "AF_INET AF_INET6 AF_UNIX");
  EXPECT_EQ(service.count("IPAddressDeny"), 0u) << "IP egress must stay open for the vendor's endpoint";
  EXPECT_NE(only(unit, "Service", "PrivateNetwork"), "yes");
  // The state directory must stay writable under ProtectSystem=strict: StateDirectory does that,
  // ReadOnlyPaths/InaccessiblePaths on it would undo it.
  EXPECT_EQ(only(unit, "Service", "ProtectSystem"), "strict");
  for (const char* key : {"ReadOnlyPaths", "InaccessiblePaths"}) {
    const auto k = service.find(key);
    if (k == service.end()) continue;
    for (const auto& v : k->second) EXPECT_EQ(v.find("/var/lib/groupwatch"), std::string::npos) << key << "=" << v;
  }
}

}  // namespace
}  // namespace groupwatch::deploy_test
