// The pool against the real emulator (in-process, TLS with its generated
// certificate): the vendor-shaped path end to end.
#include <gtest/gtest.h>

#include <unistd.h>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "groupwatch/emulator/server.hpp"
#include "groupwatch/http/pool.hpp"
#include "groupwatch/tencent/request.hpp"
#include "groupwatch/tencent/usersig.hpp"
#include "http/posts.hpp"

namespace {

namespace asio = boost::asio;
namespace emu = groupwatch::emulator;
using groupwatch::http::Failure;
using groupwatch::http::Pool;
using groupwatch::http::PoolOptions;
using groupwatch::http::Response;
using namespace std::chrono_literals;

constexpr std::uint64_t kAppId = 1400000001;
constexpr std::string_view kSecret = "http-test-secret-0123456789abcdef";

class EmulatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    emu::Options o;
    o.port = 0;
    o.apps.push_back(emu::App{.sdkappid = kAppId, .secret_key = std::string(kSecret), .qps = 1000000});
    o.accept_any_group = true;
    o.latency = latency_;
    server_.emplace(server_io_, o);
    port_ = server_->start();
    ca_file_ =
        (std::filesystem::temp_directory_path() / ("gw_http_emu_ca_" + std::to_string(::getpid()) + ".pem")).string();
    std::ofstream(ca_file_) << server_->ca_pem();
    thread_ = std::thread([this] { server_io_.run(); });
  }

  void TearDown() override {
    server_->stop();
    work_.reset();
    thread_.join();
    server_.reset();
    std::filesystem::remove(ca_file_);
  }

  PoolOptions pool_options() const {
    PoolOptions o;
    o.host = "127.0.0.1";
    o.port = std::to_string(port_);
    o.ca_file = ca_file_;
    o.max_connections = 4;
    return o;
  }

  static std::string target() {
    const auto now =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
    std::string sig = groupwatch::tencent::make_usersig(kSecret, kAppId, "administrator", 86400, now);
    return groupwatch::tencent::build_target("", kAppId, "administrator", sig, 12345);
  }

  std::vector<Response> post_all(Pool& pool, int n) {
    return gw_test::post_all(io_, pool, n, target(),
                             groupwatch::tencent::build_body(emu::generate_group_ids(1, 7).front()));
  }

  emu::Latency latency_;
  asio::io_context server_io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_ = asio::make_work_guard(server_io_);
  std::optional<emu::Server> server_;
  std::uint16_t port_ = 0;
  std::string ca_file_;
  std::thread thread_;
  asio::io_context io_;
};

TEST_F(EmulatorTest, SequentialPostsReuseConnections) {
  Pool pool(io_.get_executor(), pool_options());
  for (int i = 0; i < 1000; ++i) {
    Response r = post_all(pool, 1).front();
    ASSERT_EQ(r.failure, Failure::none) << i << ": " << r.detail;
    ASSERT_EQ(r.status, 200u) << r.body;
    ASSERT_NE(r.body.find("\"ActionStatus\":\"OK\""), std::string::npos) << r.body;
  }
  const emu::Stats st = server_->stats();
  EXPECT_LE(st.handshakes, 4u);
  EXPECT_EQ(st.handshakes, pool.stats().handshakes);
  EXPECT_EQ(st.requests, 1000u);
}

class EmulatorSlowTest : public EmulatorTest {
 public:
  EmulatorSlowTest() { latency_ = {20ms, 20ms}; }
};

TEST_F(EmulatorSlowTest, ConcurrentPostsStayWithinMaxConnections) {
  Pool pool(io_.get_executor(), pool_options());
  auto results = post_all(pool, 20);
  for (const auto& r : results) {
    EXPECT_EQ(r.failure, Failure::none) << r.detail;
    EXPECT_EQ(r.status, 200u);
  }
  const emu::Stats st = server_->stats();
  EXPECT_LE(st.connections_accepted, 4u);
  EXPECT_GE(st.connections_accepted, 2u);  // the posts did overlap
  EXPECT_LE(pool.stats().open, 4u);
}

TEST_F(EmulatorTest, UntrustedWithoutCaFile) {
  PoolOptions o = pool_options();
  o.ca_file.clear();
  Pool pool(io_.get_executor(), o);
  Response r = post_all(pool, 1).front();
  EXPECT_EQ(r.failure, Failure::tls);
  EXPECT_NE(r.detail.find("certificate verify failed"), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find("usersig"), std::string::npos) << r.detail;
}

}  // namespace
