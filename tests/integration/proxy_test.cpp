// Proxies (interface.md, "Proxies"): HTTPS_PROXY / NO_PROXY and a per-app
// `proxy:`, through a real tinyproxy on loopback, TLS end to end with the
// emulator; and IPv6 endpoints.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "harness.hpp"

using namespace gwtest;

namespace {

constexpr const char* kTinyproxy = "/usr/bin/tinyproxy";

// tinyproxy in the foreground, logging every CONNECT.
struct Tinyproxy {
  std::uint16_t port = free_port();
  std::string log;
  std::unique_ptr<Process> process;
  Tinyproxy(const TempDir& dir, std::uint16_t connect_port) {
    log = dir.file("tinyproxy.log");
    dir.write("tinyproxy.conf", "Port " + std::to_string(port) + "\nListen 127.0.0.1\nTimeout 30\nConnectPort " +
                                    std::to_string(connect_port) + "\nLogFile \"" + log + "\"\nLogLevel Connect\n" +
                                    "MaxClients 50\n");
    process = std::make_unique<Process>(std::vector<std::string>{kTinyproxy, "-d", "-c", dir.file("tinyproxy.conf")},
                                        dir.file("tinyproxy.out"), dir.file("tinyproxy.err"));
    for (int i = 0; i < 100; ++i) {
      boost::asio::io_context io;
      boost::asio::ip::tcp::socket s(io);
      boost::system::error_code ec;
      s.connect({boost::asio::ip::make_address("127.0.0.1"), port}, ec);
      if (!ec) return;
      std::this_thread::sleep_for(50ms);
    }
  }
  ~Tinyproxy() {
    process->signal(SIGTERM);
    process->wait(5s);
  }
  std::size_t connects(std::uint16_t to) const {
    return count_of(read_file(log), "CONNECT 127.0.0.1:" + std::to_string(to));
  }
};

std::size_t ok_lines(const std::string& path) {
  std::size_t n = 0;
  for (auto& l : parse_ndjson(path)) n += l.error_code == 0 && l.has_count;
  return n;
}

}  // namespace

TEST(Proxy, OnceThroughHttpsProxyAndNotWhenNoProxyMatches) {
  if (::access(kTinyproxy, X_OK) != 0) GTEST_SKIP() << "tinyproxy is not installed";
  TempDir dir;
  groupwatch::emulator::Options o;
  auto ids = groupwatch::emulator::generate_group_ids(20, 3);
  for (auto& id : ids) o.groups.push_back(groupwatch::emulator::Group{id});
  Emulator emu(o);
  write_groups(dir, "groups.txt", 0);
  {
    std::ofstream f(dir.file("groups.txt"));
    for (auto& id : ids) f << id << "\n";
  }
  Tinyproxy proxy(dir, emu.port());
  dir.write("gw.yaml", app_config(emu, dir, dir.file("groups.txt"), 200, "4m"));
  const std::string via = "http://127.0.0.1:" + std::to_string(proxy.port);

  auto r = run({GW_BIN, "once", "--quiet", "--config", dir.file("gw.yaml")},
               {.timeout = 60s, .env = {{"HTTPS_PROXY", via}}});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(ok_lines(dir.file("out.ndjson")), 20u);
  const auto through = proxy.connects(emu.port());
  EXPECT_GE(through, 1u) << read_file(proxy.log);

  // NO_PROXY matching the endpoint's host: direct, no CONNECT.
  fs::remove(dir.file("out.ndjson"));
  r = run({GW_BIN, "once", "--quiet", "--config", dir.file("gw.yaml")},
          {.timeout = 60s, .env = {{"https_proxy", via}, {"NO_PROXY", "localhost, 127.0.0.1"}}});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(ok_lines(dir.file("out.ndjson")), 20u);
  EXPECT_EQ(proxy.connects(emu.port()), through);

  // `proxy: none` overrides the environment.
  fs::remove(dir.file("out.ndjson"));
  dir.write("none.yaml", app_config(emu, dir, dir.file("groups.txt"), 200, "4m", "", "    proxy: none\n"));
  r = run({GW_BIN, "once", "--quiet", "--config", dir.file("none.yaml")},
          {.timeout = 60s, .env = {{"HTTPS_PROXY", via}}});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(proxy.connects(emu.port()), through);
  std::cout << "FIGURES proxy connects=" << through << " results_ok=20\n";
}

TEST(Proxy, AFailingProxyIsNamedAsTheCause) {
  TempDir dir;
  groupwatch::emulator::Options o;
  Emulator emu(o);
  write_groups(dir, "groups.txt", 3);
  const auto dead = free_port();
  dir.write("gw.yaml", app_config(emu, dir, dir.file("groups.txt"), 200, "4m", "",
                                  "    proxy: http://127.0.0.1:" + std::to_string(dead) + "\n"));
  auto r = run({GW_BIN, "once", "--quiet", "--config", dir.file("gw.yaml")}, {.timeout = 60s});
  EXPECT_EQ(r.status, 1);
  auto lines = lines_of(read_file(dir.file("out.ndjson")));
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_NE(lines[0].find("proxy: cannot connect to 127.0.0.1:" + std::to_string(dead)), std::string::npos) << lines[0];
  auto bad = run({GW_BIN, "check", "--config", dir.file("gw.yaml")}, {.timeout = 60s});
  EXPECT_EQ(bad.status, 0) << bad.err;
  dir.write("bad.yaml", app_config(emu, dir, dir.file("groups.txt"), 200, "4m", "", "    proxy: https://p:1\n"));
  bad = run({GW_BIN, "check", "--config", dir.file("bad.yaml")});
  EXPECT_EQ(bad.status, 2);
  EXPECT_NE(bad.err.find("only http://HOST:PORT proxies"), std::string::npos) << bad.err;
}

// IPv6: the emulator on ::1 (its certificate covers it), polled at
// https://[::1]:PORT.
TEST(Proxy, AnIpv6EndpointIsPolled) {
  TempDir dir;
  groupwatch::emulator::Options o;
  o.address = "::1";
  o.port = 0;
  o.apps.push_back({kAppId, kKey, "administrator", 200});
  auto ids = groupwatch::emulator::generate_group_ids(5, 4);
  for (auto& id : ids) o.groups.push_back(groupwatch::emulator::Group{id});
  boost::asio::io_context io{1};
  auto server = std::make_unique<groupwatch::emulator::Server>(io, o);
  std::uint16_t port = 0;
  try {
    port = server->start();
  } catch (const std::exception& e) {
    GTEST_SKIP() << "no IPv6 loopback here: " << e.what();
  }
  std::thread t([&] { io.run(); });
  std::ofstream(dir.file("ca.pem")) << server->ca_pem();
  {
    std::ofstream f(dir.file("groups.txt"));
    for (auto& id : ids) f << id << "\n";
  }
  dir.write("gw.yaml", std::string("apps:\n  - name: v6\n    sdkappid: ") + std::to_string(kAppId) +
                           "\n    admin: administrator\n    secret_key: " + kKey + "\n    endpoint: https://[::1]:" +
                           std::to_string(port) + "\n    ca_file: " + dir.file("ca.pem") + "\n    group_files: [" +
                           dir.file("groups.txt") + "]\nstate_dir: " + dir.file("state") +
                           "\nsinks:\n  - type: ndjson\n    path: " + dir.file("out.ndjson") + "\n");
  auto r = run({GW_BIN, "once", "--quiet", "--config", dir.file("gw.yaml")}, {.timeout = 60s});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_EQ(ok_lines(dir.file("out.ndjson")), 5u);
  server->stop();
  io.stop();
  t.join();
}
