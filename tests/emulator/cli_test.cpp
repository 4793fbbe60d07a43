// The groupwatch-emulator binary: start on an ephemeral port, answer, stop on SIGTERM.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "emulator/client.hpp"
#include "support/spawn.hpp"

namespace {

namespace fs = std::filesystem;

struct Child {
  pid_t pid = -1;
  FILE* out = nullptr;
};

Child spawn(const std::vector<std::string>& args) {
  int fds[2];
  if (::pipe(fds) != 0) return {};
  std::vector<std::string> argv{GW_EMULATOR_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  groupwatch::testing::SpawnOptions so;
  so.stdio.out_fd = fds[1];
  const pid_t pid = groupwatch::testing::spawn(argv, so);
  ::close(fds[1]);
  return Child{pid, ::fdopen(fds[0], "r")};
}

std::string read_line(FILE* f) {
  char buf[4096];
  if (std::fgets(buf, sizeof buf, f) == nullptr) return {};
  return buf;
}

std::string read_all(FILE* f) {
  std::string s;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, f)) s.append(buf, n);
  return s;
}

// What `c` writes until it ends, and its exit status (-1 when it did not
// exit normally or could not be reaped).
struct Ended {
  std::string out;
  int status = -1;
};
Ended wait_end(Child& c) {
  Ended e;
  e.out = read_all(c.out);
  std::fclose(c.out);
  int status = 0;
  if (::waitpid(c.pid, &status, 0) == c.pid && WIFEXITED(status)) e.status = WEXITSTATUS(status);
  return e;
}

TEST(EmulatorCli, ServesAndStopsOnSigterm) {
  const auto dir = fs::temp_directory_path() / ("gw-emu-cli-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const auto ca = (dir / "ca.pem").string();
  const auto groups = (dir / "groups.txt").string();
  Child c = spawn({"--listen", "127.0.0.1:0", "--write-ca", ca, "--groups", "3", "--write-groups", groups});
  ASSERT_GT(c.pid, 0);
  const std::string line = read_line(c.out);
  ASSERT_TRUE(line.starts_with("listening on 127.0.0.1:")) << line;
  const auto port = static_cast<std::uint16_t>(std::stoi(line.substr(std::string("listening on 127.0.0.1:").size())));
  ASSERT_GT(port, 0);

  std::ifstream caf(ca);
  const std::string ca_pem((std::istreambuf_iterator<char>(caf)), {});
  ASSERT_NE(ca_pem.find("BEGIN CERTIFICATE"), std::string::npos);
  std::ifstream gf(groups);
  std::string group;
  std::getline(gf, group);
  ASSERT_EQ(group.size(), 23u);

  gw_test::Client client(port, ca_pem);
  ASSERT_FALSE(client.connect());
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  const auto sig =
      groupwatch::tencent::make_usersig("demo-secret-key-0123456789abcdef", 1400000001, "administrator", 3600, now);
  gw_test::Response res;
  ASSERT_FALSE(client.call(
      gw_test::command(gw_test::target_for(1400000001, "administrator", sig), gw_test::body_for(group)), res));
  EXPECT_NE(res.body().find(R"("ErrorCode":0)"), std::string::npos) << res.body();
  EXPECT_NE(res.body().find("OnlineMemberNum"), std::string::npos) << res.body();
  // A group not in the generated list does not exist.
  ASSERT_FALSE(client.call(gw_test::command(gw_test::target_for(1400000001, "administrator", sig),
                                            gw_test::body_for("@TGS#_@TGS#NOTGENERATED")),
                           res));
  EXPECT_NE(res.body().find(R"("ErrorCode":10010)"), std::string::npos) << res.body();

  ASSERT_EQ(::kill(c.pid, SIGTERM), 0);
  const auto [rest, status] = wait_end(c);
  EXPECT_EQ(status, 0);
  EXPECT_NE(rest.find(R"("requests":2)"), std::string::npos) << rest;
  EXPECT_NE(rest.find(R"("handshakes":1)"), std::string::npos) << rest;
  fs::remove_all(dir);
}

TEST(EmulatorCli, BadOptionExitsWithTwo) {
  Child c = spawn({"--listen", "nowhere"});
  ASSERT_GT(c.pid, 0);
  const auto [out, status] = wait_end(c);
  EXPECT_EQ(status, 2);
  EXPECT_TRUE(out.empty()) << out;
}

}  // namespace
