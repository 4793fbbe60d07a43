// cmake/packaging.cmake: `cmake --install` lays out what the unit and the config expect;
// with GW_TEST_CPACK set, the .deb is built and inspected too.
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "deploy/support.hpp"

namespace groupwatch::deploy_test {
namespace {

namespace fs = std::filesystem;

TEST(Packaging, InstallPutsEverythingWhereTheUnitAndConfigLookForIt) {
  ScratchDir dir;
  const auto prefix = dir.path() / "root";
  const auto r = run("cmake --install " + shell_quote(GW_BINARY_DIR) + " --prefix " + shell_quote(prefix.string()));
  ASSERT_EQ(r.status, 0) << r.output;
  for (const char* path : {"bin/groupwatch", "bin/groupwatch-emulator", "etc/groupwatch/groupwatch.yaml",
                           "lib/systemd/system/groupwatch.service", "share/doc/groupwatch/README.md",
                           "share/doc/groupwatch/examples/grafana/groupwatch-dashboard.json"}) {
    EXPECT_TRUE(fs::is_regular_file(prefix / path)) << path << " not installed:\n" << r.output;
  }
  // The installed example config names watchlists/example.txt relative to itself.
  EXPECT_NE(read_file(prefix / "etc/groupwatch/groupwatch.yaml").find("watchlists/example.txt"), std::string::npos);
  EXPECT_TRUE(fs::is_regular_file(prefix / "etc/groupwatch/watchlists/example.txt"));
  EXPECT_EQ(read_file(prefix / "lib/systemd/system/groupwatch.service"),
            read_file(fs::path(GW_SOURCE_DIR) / "deploy/systemd/groupwatch.service"));
  EXPECT_EQ(fs::status(prefix / "bin/groupwatch").permissions() & fs::perms::owner_exec, fs::perms::owner_exec);
}

// Heavy (strips and compresses the binaries): only with GW_TEST_CPACK=1.
TEST(Packaging, DebHasTheFilesDependenciesAndConffiles) {
  const char* enabled = std::getenv("GW_TEST_CPACK");
  if (enabled == nullptr || *enabled == '\0' || std::string(enabled) == "0") {
    GTEST_SKIP() << "set GW_TEST_CPACK=1 to build and inspect the .deb";
  }
  ASSERT_TRUE(have_program("cpack") && have_program("dpkg-deb")) << "cpack and dpkg-deb are needed";
  ScratchDir dir;
  const auto cpack = run("cpack -G DEB --config " + shell_quote(std::string(GW_BINARY_DIR) + "/CPackConfig.cmake") +
                         " -B " + shell_quote(dir.path().string()));
  ASSERT_EQ(cpack.status, 0) << cpack.output;
  fs::path deb;
  for (const auto& e : fs::directory_iterator(dir.path())) {
    if (e.path().extension() == ".deb") deb = e.path();
  }
  ASSERT_FALSE(deb.empty()) << cpack.output;
  EXPECT_EQ(deb.filename().string().rfind("groupwatch_", 0), 0u) << deb;

  const auto contents = run("dpkg-deb -c " + shell_quote(deb.string()));
  ASSERT_EQ(contents.status, 0) << contents.output;
  for (const char* path : {"./usr/bin/groupwatch", "./usr/bin/groupwatch-emulator", "./etc/groupwatch/groupwatch.yaml",
                           "./etc/groupwatch/watchlists/example.txt", "./usr/lib/systemd/system/groupwatch.service",
                           "./usr/share/doc/groupwatch/README.md"}) {
    EXPECT_NE(contents.output.find(std::string(path) + "\n"), std::string::npos) << path << " in\n" << contents.output;
  }
  EXPECT_EQ(contents.output.find("./usr/etc"), std::string::npos) << "config must be under /etc:\n" << contents.output;

  const auto field = [&](const std::string& name) {
    auto out = run("dpkg-deb -f " + shell_quote(deb.string()) + " " + name).output;
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
  EXPECT_NE(conffiles.output.find("/etc/groupwatch/groupwatch.yaml"), std::string::npos) << conffiles.output;
}

}  // namespace
}  // namespace groupwatch::deploy_test
