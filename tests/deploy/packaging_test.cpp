// cmake/packaging.cmake: `cmake --install` lays out what the unit and the config expect, and
// the .deb (built with cpack, a few seconds) carries the files, dependencies and conffiles.
#include <gtest/gtest.h>

#include <cstdlib>
#include <sstream>
#include <string>

#include "deploy/support.hpp"

namespace groupwatch::deploy_test {
namespace {

namespace fs = std::filesystem;

TEST(Packaging, InstallPutsEverythingWhereTheUnitAndConfigLookForIt) {
  TempDir dir;
  const auto prefix = dir.path() / "root";
  const auto r = run("cmake --install " + shell_quote(GW_BINARY_DIR) + " --prefix " + shell_quote(prefix.string()));
  ASSERT_EQ(r.status, 0) << r.out;
  for (const char* path : {"bin/groupwatch", "bin/groupwatch-emulator", "etc/groupwatch/groupwatch.yaml",
                           "lib/systemd/system/groupwatch.service", "share/doc/groupwatch/README.md",
                           "share/doc/groupwatch/examples/grafana/groupwatch-dashboard.json"}) {
    EXPECT_TRUE(fs::is_regular_file(prefix / path)) << path << " not installed:\n" << r.out;
  }
  // The installed example config names watchlists/example.txt relative to itself.
  EXPECT_NE(read_file(prefix / "etc/groupwatch/groupwatch.yaml").find("watchlists/example.txt"), std::string::npos);
  EXPECT_TRUE(fs::is_regular_file(prefix / "etc/groupwatch/watchlists/example.txt"));
  // The unit starts the binary and reads the config where this prefix put them.
  const auto unit = read_file(prefix / "lib/systemd/system/groupwatch.service");
  const auto p = prefix.string();
  EXPECT_NE(unit.find("\nExecStart=" + p + "/bin/groupwatch run --config " + p + "/etc/groupwatch/groupwatch.yaml\n"),
            std::string::npos)
      << unit;
  EXPECT_NE(unit.find("\nEnvironmentFile=-" + p + "/etc/groupwatch/groupwatch.env\n"), std::string::npos) << unit;
  EXPECT_EQ(unit.find("/usr/bin/groupwatch"), std::string::npos) << unit;
  EXPECT_EQ(fs::status(prefix / "bin/groupwatch").permissions() & fs::perms::owner_exec, fs::perms::owner_exec);
  // The unit's environment file holds secrets: readable by its owner only.
  EXPECT_EQ(fs::status(prefix / "etc/groupwatch/groupwatch.env").permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

// groupwatch(1) is made from the binary's help texts: every command, every config section
// and every sink type is in it.
TEST(Packaging, ManPageComesFromTheHelpTexts) {
  TempDir dir;
  const auto page = dir.path() / "groupwatch.1";
  const auto r = run(shell_quote(std::string(GW_SOURCE_DIR) + "/scripts/make-manpage") + " " + shell_quote(GW_BIN) +
                     " " + shell_quote(page.string()));
  ASSERT_EQ(r.status, 0) << r.out;
  const auto text = read_file(page);
  EXPECT_EQ(text.rfind(".TH GROUPWATCH 1", 0), 0u) << text.substr(0, 200);
  for (const char* s :
       {".SS run", ".SS once", ".SS check", ".SS query", ".SS usersig", ".SH CONFIGURATION", "sink_failing_after",
        ".SS sqlite", ".SS postgres", ".SS influxdb", ".SS prometheus", ".SS ndjson", ".SH EXIT STATUS"}) {
    EXPECT_NE(text.find(s), std::string::npos) << s;
  }
  // Text lines starting with a dot would be read as requests: every one is guarded.
  std::istringstream lines(text);
  std::string line;
  bool pre = false;
  while (std::getline(lines, line)) {
    if (line == ".nf" || line == ".fi") {
      pre = line == ".nf";
    } else if (pre) {
      EXPECT_NE(line.rfind('.', 0), 0u) << line;
    }
  }
}

TEST(Packaging, DebHasTheFilesDependenciesAndConffiles) {
  ASSERT_TRUE(have_program("cpack") && have_program("dpkg-deb")) << "cpack and dpkg-deb are needed";
  TempDir dir;
  const auto cpack = run("cpack -G DEB --config " + shell_quote(std::string(GW_BINARY_DIR) + "/CPackConfig.cmake") +
                         " -B " + shell_quote(dir.path().string()));
  ASSERT_EQ(cpack.status, 0) << cpack.out;
  fs::path deb;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    if (e.path().extension() == ".deb") deb = e.path();
  }
  ASSERT_FALSE(deb.empty()) << cpack.out;
  EXPECT_EQ(deb.filename().string().rfind("groupwatch_", 0), 0u) << deb;

  const auto contents = run("dpkg-deb -c " + shell_quote(deb.string()));
  ASSERT_EQ(contents.status, 0) << contents.out;
  for (const char* path : {"./usr/bin/groupwatch", "./usr/bin/groupwatch-emulator", "./etc/groupwatch/groupwatch.yaml",
                           "./etc/groupwatch/watchlists/example.txt", "./usr/lib/systemd/system/groupwatch.service",
                           "./usr/share/doc/groupwatch/README.md", "./usr/share/doc/groupwatch/copyright",
                           "./usr/share/doc/groupwatch/changelog.gz", "./usr/share/man/man1/groupwatch.1.gz",
                           "./usr/share/doc/groupwatch/docs/interface.md", "./etc/groupwatch/groupwatch.env"}) {
    EXPECT_NE(contents.out.find(std::string(path) + "\n"), std::string::npos) << path << " in\n" << contents.out;
  }
  EXPECT_EQ(contents.out.find("./usr/etc"), std::string::npos) << "config must be under /etc:\n" << contents.out;

  const auto field = [&](const std::string& name) {
    auto out = run("dpkg-deb -f " + shell_quote(deb.string()) + " " + name).out;
    while (!out.empty() && out.back() == '\n') out.pop_back();
    return out;
  };
  EXPECT_EQ(field("Package"), "groupwatch");
  EXPECT_EQ(field("Section"), "net");
  EXPECT_FALSE(field("Maintainer").empty());
  const auto depends = field("Depends");
  for (const char* lib :
       {"libssl3", "libyaml-cpp0.7", "libfmt9", "libsimdjson14", "libsqlite3-0", "libpq5", "zlib1g"}) {
    EXPECT_NE(depends.find(lib), std::string::npos) << lib << " not in Depends: " << depends;
  }
  EXPECT_EQ(depends.find("libboost"), std::string::npos) << depends;
  const auto conffiles = run("dpkg-deb -I " + shell_quote(deb.string()) + " conffiles");
  EXPECT_NE(conffiles.out.find("/etc/groupwatch/groupwatch.yaml"), std::string::npos) << conffiles.out;
  EXPECT_NE(conffiles.out.find("/etc/groupwatch/groupwatch.env"), std::string::npos) << conffiles.out;
  // The packaged unit runs what the package installed.
  const auto unit = run("dpkg-deb --fsys-tarfile " + shell_quote(deb.string()) +
                        " | tar -xOf - ./usr/lib/systemd/system/groupwatch.service");
  EXPECT_NE(unit.out.find("\nExecStart=/usr/bin/groupwatch run --config /etc/groupwatch/groupwatch.yaml\n"),
            std::string::npos)
      << unit.out;
}

}  // namespace
}  // namespace groupwatch::deploy_test
