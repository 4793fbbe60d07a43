// The admin server over real loopback sockets, with a fake provider.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "groupwatch/admin/server.hpp"
#include "support/servers.hpp"

namespace {

using namespace groupwatch;
using gw_test::http_get;

class AdminServer : public ::testing::Test {
 protected:
  void SetUp() override {
    admin::Provider p;
    p.metrics = [] { return std::string("up_metric 1\n"); };
    p.status_json = [] { return std::string(R"({"apps":[]})"); };
    p.readiness = [this] { return ready_ ? admin::Readiness{true, ""} : admin::Readiness{false, "no app is polling"}; };
    admin::Options o;
    o.idle_timeout = std::chrono::seconds(2);
    o.request_timeout = std::chrono::seconds(3);
    server_ = std::make_unique<admin::Server>(io_, "127.0.0.1:0", std::move(p), o);
    port_ = server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  void TearDown() override {
    boost::asio::post(io_, [this] { server_->stop(); });
    work_.reset();
    thread_.join();
    server_.reset();
  }

  boost::asio::io_context io_{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{io_.get_executor()};
  std::unique_ptr<admin::Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  std::atomic<bool> ready_{false};
};

TEST_F(AdminServer, ServesEveryEndpoint) {
  ASSERT_NE(port_, 0);
  auto h = http_get(port_, "/healthz");
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, "ok\n");

  auto m = http_get(port_, "/metrics");
  EXPECT_EQ(m.status, 200);
  EXPECT_EQ(m.body, "up_metric 1\n");
  EXPECT_EQ(m.content_type, "text/plain; version=0.0.4; charset=utf-8");

  auto s = http_get(port_, "/api/status?x=1");
  EXPECT_EQ(s.status, 200);
  EXPECT_EQ(s.content_type, "application/json");
  EXPECT_EQ(s.body, R"({"apps":[]})");

  auto page = http_get(port_, "/");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("getContext(\"2d\")"), std::string::npos);
  EXPECT_NE(page.body.find("fetch(\"/api/status\""), std::string::npos);
  EXPECT_NE(page.body.find("name=\"viewport\""), std::string::npos);
  EXPECT_NE(page.body.find("prefers-color-scheme: dark"), std::string::npos);
  EXPECT_EQ(page.body.find("https://"), std::string::npos) << "the page must be self-contained";

  EXPECT_EQ(http_get(port_, "/nope").status, 404);
}

TEST_F(AdminServer, ReadinessFollowsTheProvider) {
  auto r = http_get(port_, "/readyz");
  EXPECT_EQ(r.status, 503);
  EXPECT_NE(r.body.find("no app is polling"), std::string::npos);
  ready_ = true;
  EXPECT_EQ(http_get(port_, "/readyz").status, 200);
}

// Raw exchanges on one socket: keep-alive, methods, limits.
std::string raw_exchange(std::uint16_t port, const std::string& raw, bool read_all = true) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket s(io);
  s.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  timeval tv{5, 0};
  ::setsockopt(s.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  boost::system::error_code ec;
  boost::asio::write(s, boost::asio::buffer(raw), ec);
  std::string out;
  char buf[4096];
  for (;;) {
    auto n = s.read_some(boost::asio::buffer(buf), ec);
    out.append(buf, n);
    if (ec || !read_all) break;
  }
  return out;
}

std::size_t count(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

TEST_F(AdminServer, KeepsTheConnectionAliveBetweenRequests) {
  std::string two =
      "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
  auto out = raw_exchange(port_, two);
  EXPECT_EQ(count(out, "HTTP/1.1 200 OK"), 2u) << out;
  EXPECT_NE(out.find("up_metric 1"), std::string::npos);
}

TEST_F(AdminServer, RejectsOtherMethods) {
  auto out =
      raw_exchange(port_, "POST /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi");
  EXPECT_NE(out.find("HTTP/1.1 405"), std::string::npos) << out;
  EXPECT_NE(out.find("Allow: GET, HEAD"), std::string::npos) << out;
}

TEST_F(AdminServer, BoundsRequestSizes) {
  std::string big_header = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n";
  auto out = raw_exchange(port_, big_header);
  EXPECT_NE(out.find("HTTP/1.1 431"), std::string::npos) << out.substr(0, 200);

  std::string big_body = "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + std::string(2000, 'b');
  out = raw_exchange(port_, big_body);
  EXPECT_NE(out.find("HTTP/1.1 413"), std::string::npos) << out.substr(0, 200);
}

TEST_F(AdminServer, ClosesIdleConnections) {
  // Nothing sent: the server gives up after its deadline and closes.
  auto t0 = std::chrono::steady_clock::now();
  auto out = raw_exchange(port_, "");
  EXPECT_EQ(out, "");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(15));
}

TEST(AdminListen, ParsesHostAndPort) {
  std::string err;
  auto a = admin::parse_listen("127.0.0.1:9108", &err);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 9108);
  auto v6 = admin::parse_listen("[::1]:80", &err);
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_FALSE(admin::parse_listen("9108", &err));
  EXPECT_NE(err.find("HOST:PORT"), std::string::npos);
  EXPECT_FALSE(admin::parse_listen(":9108", &err));
  EXPECT_FALSE(admin::parse_listen("host:99999", &err));
  EXPECT_FALSE(admin::parse_listen("host:http", &err));
}

TEST(AdminListen, KnowsLoopback) {
  EXPECT_TRUE(admin::is_loopback("127.0.0.1"));
  EXPECT_TRUE(admin::is_loopback("127.1.2.3"));
  EXPECT_TRUE(admin::is_loopback("::1"));
  EXPECT_TRUE(admin::is_loopback("localhost"));
  EXPECT_FALSE(admin::is_loopback("0.0.0.0"));
  EXPECT_FALSE(admin::is_loopback("10.0.0.1"));
  EXPECT_FALSE(admin::is_loopback("example.com"));
}

TEST(AdminServerStart, ReportsAnAddressInUse) {
  boost::asio::io_context io;
  admin::Server a(io, "127.0.0.1:0", {});
  auto port = a.start();
  admin::Server b(io, "127.0.0.1:" + std::to_string(port), {});
  const auto in_use = gw_test::thrown_by([&] { b.start(); });
  EXPECT_TRUE(in_use.starts_with("admin.listen: cannot listen on 127.0.0.1:" + std::to_string(port))) << in_use;
  admin::Server c(io, "nonsense", {});
  std::string why;
  ASSERT_FALSE(admin::parse_listen("nonsense", &why));
  EXPECT_EQ(gw_test::thrown_by([&] { c.start(); }), "admin.listen: " + why);
}

TEST(AdminListen, WritesAnAddressAsItIsWritten) {
  EXPECT_EQ((ListenAddress{"127.0.0.1", 9108}).text(), "127.0.0.1:9108");
  EXPECT_EQ((ListenAddress{"::1", 80}).text(), "[::1]:80");
  EXPECT_EQ((ListenAddress{"localhost", 0}).text(), "localhost:0");
}

}  // namespace
