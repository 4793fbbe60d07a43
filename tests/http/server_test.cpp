// The one HTTP server, driven by plain blocking clients: what the handler
// answers (reply, delay, reset, stall), unreadable requests, the connection
// limit, and a listen error an operator can read.
#include "groupwatch/http/server.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

namespace {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
using tcp = asio::ip::tcp;
using namespace groupwatch::http;
using namespace std::chrono_literals;
using SteadyClock = std::chrono::steady_clock;

// A server on its own thread; stopped and joined on scope exit.
struct Running {
  asio::io_context io{1};
  Server server;
  std::uint16_t port = 0;
  std::thread thread;
  Running(ServerHandlers h, ServerOptions o) : server(io, std::move(h), std::move(o)) {
    port = server.listen("127.0.0.1", 0);
    thread = std::thread([this] { io.run(); });
  }
  ~Running() {
    io.stop();
    thread.join();
  }
};

struct Client {
  asio::io_context io;
  tcp::socket sock{io};
  explicit Client(std::uint16_t port) { sock.connect({asio::ip::make_address("127.0.0.1"), port}); }
  void send(const std::string& bytes) { asio::write(sock, asio::buffer(bytes)); }
  // Everything until the server closes; `ec` says how it closed.
  std::string read_all(boost::system::error_code& ec) {
    std::string out;
    char buf[4096];
    for (;;) {
      std::size_t n = sock.read_some(asio::buffer(buf), ec);
      out.append(buf, n);
      if (ec) return out;
    }
  }
};

ServerHandlers by_path() {
  ServerHandlers h;
  h.request = [](const Request& req, std::uint64_t) {
    Answer a;
    a.reply = Reply{bhttp::status::ok, 11};
    a.reply.body() = "ok";
    a.reply.keep_alive(false);
    if (req.target() == "/slow") a.delay = 200ms;
    if (req.target() == "/reset") a.then = Answer::Then::reset;
    if (req.target() == "/stall") {
      a.then = Answer::Then::stall;
      a.stall = 300ms;
    }
    return a;
  };
  return h;
}

std::string get(const std::string& path) {
  return "GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n";
}

}  // namespace

TEST(HttpServer, RepliesDelaysResetsAndStallsAsTheHandlerSays) {
  Running r(by_path(), {});
  boost::system::error_code ec;
  {
    Client c(r.port);
    c.send(get("/ok"));
    const std::string got = c.read_all(ec);
    EXPECT_NE(got.find("HTTP/1.1 200 OK"), std::string::npos) << got;
    EXPECT_NE(got.find("Content-Length: 2"), std::string::npos) << got;
    EXPECT_EQ(ec, asio::error::eof);  // closed after a reply that does not keep alive
  }
  {
    Client c(r.port);
    const auto t0 = SteadyClock::now();
    c.send(get("/slow"));
    EXPECT_NE(c.read_all(ec).find("200 OK"), std::string::npos);
    EXPECT_GE(SteadyClock::now() - t0, 200ms);
  }
  {
    Client c(r.port);
    c.send(get("/reset"));
    EXPECT_EQ(c.read_all(ec), "");
    EXPECT_EQ(ec, asio::error::connection_reset);
  }
  {
    Client c(r.port);
    const auto t0 = SteadyClock::now();
    c.send(get("/stall"));
    EXPECT_EQ(c.read_all(ec), "");
    EXPECT_EQ(ec, asio::error::connection_reset);
    EXPECT_GE(SteadyClock::now() - t0, 300ms);
  }
}

TEST(HttpServer, UnreadableRequestsGetTheirStatusThenTheConnectionCloses) {
  ServerOptions o;
  o.max_header_bytes = 1024;
  o.max_body_bytes = 16;
  Running r(by_path(), o);
  boost::system::error_code ec;
  const std::pair<std::string, std::string> cases[] = {
      {"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(2000, 'a') + "\r\n\r\n", "431"},
      {"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'b'), "413"},
      {"NOT HTTP AT ALL\r\n\r\n", "400"},
  };
  for (const auto& [request, status] : cases) {
    Client c(r.port);
    c.send(request);
    const std::string got = c.read_all(ec);
    EXPECT_EQ(got.rfind("HTTP/1.1 " + status, 0), 0u) << got;
    EXPECT_NE(got.find("Connection: close"), std::string::npos) << got;
  }
  // The handler may word them itself.
  ServerHandlers h = by_path();
  h.unreadable = [](bhttp::status s, std::uint64_t) {
    Reply res{s, 11};
    res.body() = "nope\n";
    return res;
  };
  Running r2(h, o);
  Client c(r2.port);
  c.send("NOT HTTP AT ALL\r\n\r\n");
  EXPECT_NE(c.read_all(ec).find("nope"), std::string::npos);
}

TEST(HttpServer, AtTheConnectionLimitTheLongestIdleMakesRoom) {
  ServerHandlers h = by_path();
  h.request = [](const Request&, std::uint64_t) {
    Answer a;
    a.reply = Reply{bhttp::status::ok, 11};
    a.reply.body() = "ok";
    return a;  // keeps alive
  };
  ServerOptions o;
  o.max_connections = 2;
  Running r(h, o);
  boost::system::error_code ec;
  char buf[512];
  Client oldest(r.port);
  oldest.send(get("/"));
  oldest.sock.read_some(asio::buffer(buf));  // answered, now idle
  std::this_thread::sleep_for(50ms);
  Client second(r.port);
  second.send(get("/"));
  second.sock.read_some(asio::buffer(buf));
  Client third(r.port);
  third.send(get("/"));
  EXPECT_GT(third.sock.read_some(asio::buffer(buf), ec), 0u) << ec.message();
  oldest.read_all(ec);  // closed to make room
  EXPECT_TRUE(ec == asio::error::eof || ec == asio::error::connection_reset) << ec.message();
}

TEST(HttpServer, ListenErrorNamesTheAddressAndCarriesTheOsCode) {
  Running r(by_path(), {});
  asio::io_context io;
  Server second(io, by_path(), {});
  try {
    second.listen("127.0.0.1", r.port);
    FAIL() << "a busy port was bound";
  } catch (const ListenError& e) {
    EXPECT_EQ(e.code(), std::errc::address_in_use);
    EXPECT_NE(std::string(e.what()).find("cannot listen on 127.0.0.1:" + std::to_string(r.port)), std::string::npos)
        << e.what();
  }
}
