#include "groupwatch/http/pool.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <optional>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "http/posts.hpp"
#include "http/test_server.hpp"
#include "support/harness.hpp"

namespace {

namespace asio = boost::asio;
using groupwatch::http::Failure;
using groupwatch::http::Pool;
using groupwatch::http::PoolOptions;
using groupwatch::http::Response;
using gw_test::Mode;
using gw_test::TestServer;
using namespace std::chrono_literals;

const std::string kTarget = "/v4/million_group_open_http_svc/get_online_member_num?usersig=SECRET-SIG&random=1";
const std::string kBody = R"({"GroupId":"@TGS#_@TGS#ABCDEFGHIJKL"})";

PoolOptions options_for(const TestServer& s, std::string host = "127.0.0.1") {
  PoolOptions o;
  o.host = std::move(host);
  o.port = s.port();
  o.ca_file = s.ca_file();
  o.max_connections = 4;
  o.timeout = 3000ms;
  return o;
}

std::vector<Response> post_all(asio::io_context& io, Pool& pool, int n, std::string target = kTarget) {
  return gw_test::post_all(io, pool, n, target, kBody);
}

// The answer as the pool gave it (moved, not copied: a copy's body would
// lose its spare capacity and its storage).
Response post_one(asio::io_context& io, Pool& pool, std::string target = kTarget) {
  auto all = post_all(io, pool, 1, std::move(target));
  return std::move(all.front());
}

// The usual set-up: a test server answering in `mode` and a pool on it with
// options_for's settings, as `adjust` leaves them.
struct Rig {
  explicit Rig(Mode mode = Mode::ok, const std::function<void(PoolOptions&)>& adjust = {})
      : pool(io.get_executor(), adjusted(options_for(server), adjust)) {
    server.mode = mode;
  }
  static PoolOptions adjusted(PoolOptions o, const std::function<void(PoolOptions&)>& adjust) {
    if (adjust) adjust(o);
    return o;
  }
  Response post(std::string target = kTarget) { return post_one(io, pool, std::move(target)); }
  std::vector<Response> post_many(int n) { return post_all(io, pool, n); }

  TestServer server;
  asio::io_context io;
  Pool pool;
};

// An answer the pool read whole, with HTTP status 200.
::testing::AssertionResult answered_ok(const Response& r) {
  if (r.failure != Failure::none)
    return ::testing::AssertionFailure() << "failed (" << groupwatch::http::to_string(r.failure) << "): " << r.detail;
  if (r.status != 200) return ::testing::AssertionFailure() << "HTTP status " << r.status;
  return ::testing::AssertionSuccess();
}

// What `post` gave back and how long it took.
template <class Post>
auto timed(Post post) {
  const auto start = std::chrono::steady_clock::now();
  auto got = post();
  return std::pair{std::move(got), std::chrono::steady_clock::now() - start};
}

// `took` lies in [lo, hi).
::testing::AssertionResult took_between(std::chrono::steady_clock::duration took, std::chrono::milliseconds lo,
                                        std::chrono::milliseconds hi) {
  if (took >= lo && took < hi) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                                       << " ms, not in [" << lo.count() << ", " << hi.count() << ") ms";
}

void sleep_on(asio::io_context& io, std::chrono::milliseconds d) {
  asio::steady_timer t(io, d);
  bool done = false;
  t.async_wait([&](boost::system::error_code) { done = true; });
  io.restart();
  while (!done) io.run_one();
}

TEST(HttpPool, OkThroughTlsWithCaFile) {
  Rig rig;
  Response r = rig.post();
  ASSERT_TRUE(answered_ok(r));
  EXPECT_NE(r.body.find("\"OnlineMemberNum\":7"), std::string::npos) << r.body;

  gw_test::Captured c = rig.server.last();
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.target, kTarget);
  EXPECT_EQ(c.version, 11u);
  EXPECT_EQ(c.host, "127.0.0.1:" + rig.server.port());
  EXPECT_EQ(c.user_agent, "groupwatch/" GW_VERSION);
  EXPECT_EQ(c.content_type, "application/json");
  EXPECT_EQ(c.body, kBody);

  auto st = rig.pool.stats();
  EXPECT_EQ(st.connections_opened, 1u);
  EXPECT_EQ(st.handshakes, 1u);
  EXPECT_EQ(st.requests, 1u);
  EXPECT_EQ(st.open, 1u);
  EXPECT_EQ(st.idle, 1u);
}

TEST(HttpPool, HostNameWithSni) {
  TestServer server;
  asio::io_context io;
  Pool pool(io.get_executor(), options_for(server, "localhost"));
  Response r = post_one(io, pool);
  ASSERT_EQ(r.failure, Failure::none) << r.detail;
  EXPECT_EQ(server.last().host, "localhost:" + server.port());
}

TEST(HttpPool, PlainHttp) {
  TestServer server({.tls = false});
  asio::io_context io;
  PoolOptions o = options_for(server);
  o.tls = false;
  Pool pool(io.get_executor(), o);
  Response r = post_one(io, pool);
  ASSERT_TRUE(answered_ok(r));
  EXPECT_EQ(pool.stats().handshakes, 0u);
}

TEST(HttpPool, ReusesConnections) {
  Rig rig;
  for (int i = 0; i < 1000; ++i) {
    ASSERT_TRUE(answered_ok(rig.post())) << i;
  }
  EXPECT_LE(rig.server.handshakes.load(), 4);
  EXPECT_EQ(rig.pool.stats().handshakes, static_cast<std::uint64_t>(rig.server.handshakes.load()));
  EXPECT_EQ(rig.pool.stats().requests, 1000u);
  EXPECT_EQ(rig.server.requests.load(), 1000);
}

TEST(HttpPool, ConcurrencyBoundedByMaxConnections) {
  Rig rig;
  rig.server.delay_ms = 20;
  auto results = rig.post_many(20);
  for (const auto& r : results) EXPECT_TRUE(answered_ok(r));
  EXPECT_LE(rig.server.max_active.load(), 4);
  EXPECT_GE(rig.server.max_active.load(), 2);  // the posts did overlap
  EXPECT_LE(rig.server.accepted.load(), 4);
  EXPECT_EQ(rig.server.requests.load(), 20);
  EXPECT_LE(rig.pool.stats().open, 4u);
}

TEST(HttpPool, WaitersAreServedInOrder) {
  Rig rig(Mode::ok, [](PoolOptions& o) { o.max_connections = 1; });
  rig.server.delay_ms = 5;
  std::vector<int> order;
  for (int i = 0; i < 6; ++i) {
    asio::co_spawn(rig.io, rig.pool.post(kTarget, kBody), [&order, i](std::exception_ptr e, Response r) {
      if (e) std::rethrow_exception(e);
      EXPECT_EQ(r.failure, Failure::none) << r.detail;
      order.push_back(i);
    });
  }
  while (order.size() < 6) rig.io.run_one();
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3, 4, 5}));
  EXPECT_EQ(rig.server.handshakes.load(), 1);  // handed from one to the next
}

TEST(HttpPool, UntrustedCertificateRefused) {
  Rig rig(Mode::ok, [](PoolOptions& o) { o.ca_file.clear(); });
  Response r = rig.post();
  EXPECT_EQ(r.failure, Failure::tls);
  EXPECT_NE(r.detail.find("certificate verify failed"), std::string::npos) << r.detail;
  EXPECT_EQ(r.detail.find("SECRET-SIG"), std::string::npos) << r.detail;
  EXPECT_EQ(rig.server.requests.load(), 0);
}

TEST(HttpPool, UntrustedCertificateAcceptedWithoutVerify) {
  Rig rig(Mode::ok, [](PoolOptions& o) {
    o.ca_file.clear();
    o.verify = false;
  });
  Response r = rig.post();
  ASSERT_TRUE(answered_ok(r));
}

TEST(HttpPool, CertificateForAnotherHostRefused) {
  TestServer server({.cn = "other.example", .san = "DNS:other.example"});
  asio::io_context io;
  for (std::string host : {"127.0.0.1", "localhost"}) {
    Pool pool(io.get_executor(), options_for(server, host));
    Response r = post_one(io, pool);
    EXPECT_EQ(r.failure, Failure::tls) << host;
    EXPECT_NE(r.detail.find("certificate verify failed"), std::string::npos) << r.detail;
    EXPECT_NE(r.detail.find("mismatch"), std::string::npos) << r.detail;
  }
  EXPECT_EQ(server.requests.load(), 0);
}

TEST(HttpPool, MissingCaFileIsAConfigurationError) {
  asio::io_context io;
  PoolOptions o;
  o.host = "127.0.0.1";
  o.ca_file = "/nonexistent/ca.pem";
  try {
    Pool pool(io.get_executor(), o);
    FAIL() << "expected an exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/ca.pem"), std::string::npos) << e.what();
  }
}

TEST(HttpPool, StallEndsWithTimeout) {
  Rig rig(Mode::stall, [](PoolOptions& o) { o.timeout = 300ms; });
  auto [r, took] = timed([&] { return rig.post(); });
  EXPECT_EQ(r.failure, Failure::timeout);
  EXPECT_EQ(r.detail.find("SECRET-SIG"), std::string::npos) << r.detail;
  EXPECT_TRUE(took_between(took, 250ms, 2500ms));
  EXPECT_EQ(rig.pool.stats().open, 0u);
}

// A connection's deadline follows each request: an answer that comes after
// the previous request's deadline but within its own is taken, and a stall
// on the reused connection still ends at its own deadline.
TEST(HttpPool, TheDeadlineFollowsEachRequestOnAReusedConnection) {
  Rig rig(Mode::ok, [](PoolOptions& o) {
    o.max_connections = 1;
    o.timeout = 400ms;
  });
  ASSERT_EQ(rig.post().failure, Failure::none);
  sleep_on(rig.io, 250ms);
  rig.server.delay_ms = 300;  // ends 550 ms after the first request began
  Response late = rig.post();
  EXPECT_EQ(late.failure, Failure::none) << late.detail;
  rig.server.delay_ms = 0;
  rig.server.mode = Mode::stall;
  auto [stalled, took] = timed([&] { return rig.post(); });
  EXPECT_EQ(stalled.failure, Failure::timeout) << stalled.detail;
  EXPECT_NE(stalled.detail.find("reading answer timed out"), std::string::npos) << stalled.detail;
  EXPECT_TRUE(took_between(took, 350ms, 5000ms));
  EXPECT_EQ(rig.pool.stats().connections_opened, 1u);
}

TEST(HttpPool, WaitingForAConnectionCountsAgainstTheDeadline) {
  Rig rig(Mode::stall, [](PoolOptions& o) {
    o.timeout = 500ms;
    o.max_connections = 1;
  });
  auto [results, took] = timed([&] { return rig.post_many(3); });
  for (const auto& r : results) EXPECT_EQ(r.failure, Failure::timeout) << r.detail;
  // One deadline each, all started together: not three timeouts in a row.
  EXPECT_LT(took, 1400ms);
}

TEST(HttpPool, ServerResetIsReset) {
  Rig rig(Mode::reset);
  Response r = rig.post();
  EXPECT_EQ(r.failure, Failure::reset) << r.detail;
  EXPECT_EQ(rig.server.requests.load(), 1);  // a fresh connection is not retried
}

TEST(HttpPool, Http502IsAnAnswer) {
  Rig rig(Mode::html502);
  Response r = rig.post();
  ASSERT_EQ(r.failure, Failure::none) << r.detail;
  EXPECT_EQ(r.status, 502u);
  EXPECT_NE(r.body.find("<html>"), std::string::npos);
}

// As the poller reads it: awaited in a coroutine (co_spawn's completion
// handler would take a copy of the answer, without the spare capacity).
asio::awaitable<void> post_and_keep(Pool& pool, std::optional<Response>& out) {
  Response r = co_await pool.post(kTarget, kBody);
  out.emplace(std::move(r));
}

TEST(HttpPool, AnswerBodyKeepsRoomToBeParsedWhereItLies) {
  Rig rig;
  std::optional<Response> r;
  asio::co_spawn(rig.io, post_and_keep(rig.pool, r), asio::detached);
  while (!r) rig.io.run_one();
  ASSERT_EQ(r->failure, Failure::none) << r->detail;
  EXPECT_EQ(r->body, R"({"ActionStatus":"OK","ErrorCode":0,"OnlineMemberNum":7})");
  EXPECT_GE(r->body.capacity(), r->body.size() + groupwatch::http::kBodyPadding);
}

// A body given back is where the next answer is read: no new string per
// answer, and nothing of the old answer left in it. A large one is not kept.
TEST(HttpPool, ARecycledBodyHoldsTheNextAnswer) {
  Rig rig;
  Response first = rig.post();
  ASSERT_EQ(first.failure, Failure::none) << first.detail;
  const char* storage = first.body.data();
  const auto capacity = first.body.capacity();
  rig.pool.recycle(std::move(first.body));
  // Were the body let go of, a block of its size made now would likely be
  // the one it had: the next answer would then lie elsewhere.
  std::string decoy;
  decoy.reserve(capacity);
  Response second = rig.post();
  ASSERT_EQ(second.failure, Failure::none) << second.detail;
  EXPECT_EQ(second.body, R"({"ActionStatus":"OK","ErrorCode":0,"OnlineMemberNum":7})");
  EXPECT_EQ(second.body.data(), storage);
  std::string big;
  big.reserve(std::size_t{1} << 20);
  rig.pool.recycle(std::move(big));
  EXPECT_GE(big.capacity(), std::size_t{1} << 20);  // left with the caller
}

TEST(HttpPool, ChunkedAnswerIsJoinedAndTheConnectionKept) {
  Rig rig(Mode::chunked);
  for (int i = 0; i < 2; ++i) {
    Response r = rig.post();
    ASSERT_TRUE(answered_ok(r));
    EXPECT_EQ(r.body, R"({"ActionStatus":"OK","ErrorCode":0,"OnlineMemberNum":7})");
  }
  EXPECT_EQ(rig.pool.stats().connections_opened, 1u);
}

TEST(HttpPool, OversizedBodyIsTooLarge) {
  Rig rig(Mode::big_body);
  Response r = rig.post();
  EXPECT_EQ(r.failure, Failure::too_large) << r.detail;
  EXPECT_EQ(rig.pool.stats().open, 0u);  // the rest of the body is still on the wire

  rig.server.mode = Mode::ok;
  r = rig.post();
  EXPECT_EQ(r.failure, Failure::none) << r.detail;
}

// An answer the pool cannot read, reported as `failure`.
void expect_unreadable(Mode mode, Failure failure) {
  Rig rig(mode);
  Response r = rig.post();
  EXPECT_EQ(r.failure, failure) << r.detail;
}

TEST(HttpPool, OversizedHeaderIsTooLarge) {
  expect_unreadable(Mode::big_header, Failure::too_large);
}

TEST(HttpPool, GarbageIsProtocolError) {
  expect_unreadable(Mode::garbage, Failure::protocol);
}

TEST(HttpPool, ConnectionCloseIsNotReused) {
  Rig rig(Mode::close);
  for (int i = 0; i < 3; ++i) {
    Response r = rig.post();
    ASSERT_TRUE(answered_ok(r));
    EXPECT_EQ(rig.pool.stats().idle, 0u);
  }
  EXPECT_EQ(rig.server.handshakes.load(), 3);
  EXPECT_EQ(rig.pool.stats().handshakes, 3u);
  EXPECT_EQ(rig.pool.stats().requests, 3u);
}

TEST(HttpPool, StaleKeepAliveConnectionIsReportedNotResent) {
  Rig rig(Mode::idle_close);  // answers keep-alive, then hangs up
  ASSERT_EQ(rig.post().failure, Failure::none);
  sleep_on(rig.io, 20ms);  // let the close arrive
  Response r = rig.post();
  // The pool never sends a request twice: the caller retries with a permit.
  EXPECT_EQ(r.failure, Failure::reset) << r.detail;
  EXPECT_TRUE(r.stale);
  EXPECT_TRUE(r.sent);
  EXPECT_EQ(rig.pool.stats().requests, 2u);
  EXPECT_EQ(rig.server.handshakes.load(), 1);
  // The next request opens a fresh connection.
  ASSERT_EQ(rig.post().failure, Failure::none);
  EXPECT_EQ(rig.server.handshakes.load(), 2);
}

TEST(HttpPool, ResetOnAReusedConnectionIsNotResent) {
  Rig rig;
  ASSERT_EQ(rig.post().failure, Failure::none);
  rig.server.mode = Mode::reset;  // reads the request, then resets
  Response r = rig.post();
  EXPECT_EQ(r.failure, Failure::reset) << r.detail;
  EXPECT_EQ(rig.server.requests.load(), 2);  // the server saw it once, and only once
  EXPECT_EQ(rig.pool.stats().open, 0u);
}

// A gate that admits on demand and records what the server had seen at each
// admission: the permit must come after the handshake, right before the write.
class TestGate : public groupwatch::http::Gate {
 public:
  explicit TestGate(TestServer& s) : server_(s) {}
  bool try_admit() override {
    if (!open_now) return false;
    note();
    return true;
  }
  void enqueue(Waiter* w) override { queue.push_back(w); }
  void dequeue(Waiter* w) override { std::erase(queue, w); }
  void sent() override { ++sent_reports; }
  bool may_write() override { return writable; }
  void admit_one() {
    Waiter* w = queue.front();
    queue.erase(queue.begin());
    note();
    w->admitted();
  }
  void note() {
    ++admitted;
    handshakes_at_admission.push_back(server_.handshakes.load());
    requests_at_admission.push_back(server_.requests.load());
  }
  bool open_now = true;
  bool writable = true;  // may_write()'s answer
  int admitted = 0;
  int sent_reports = 0;  // sent() calls: one per permit, after its write
  std::vector<Waiter*> queue;
  std::vector<int> handshakes_at_admission, requests_at_admission;

 private:
  TestServer& server_;
};

// Posts through `gate` and runs `io` until the request is queued at the
// gate (connected and handshaken, nothing written); `got` receives the
// response later.
void spawn_post(asio::io_context& io, Pool& pool, TestGate& gate, std::optional<Response>& got) {
  asio::co_spawn(io, pool.post(kTarget, kBody, &gate), [&got](std::exception_ptr e, Response r) {
    if (e) std::rethrow_exception(e);
    got = std::move(r);
  });
}

void post_until_queued(asio::io_context& io, Pool& pool, TestGate& gate, std::optional<Response>& got) {
  spawn_post(io, pool, gate, got);
  for (int i = 0; i < 2000 && gate.queue.empty(); ++i) io.run_one_for(10ms);
}

// One request queued at a closed gate: connected and handshaken, nothing
// written. finish() runs the loop until its response is in.
struct QueuedAtTheGate : Rig {
  TestGate gate{server};
  std::optional<Response> got;
  QueuedAtTheGate() {
    gate.open_now = false;
    post_until_queued(io, pool, gate, got);
  }
  const Response& finish() {
    io.restart();
    while (!got) io.run_one();
    return *got;
  }
};

TEST(HttpPool, GateAdmitsWithTheConnectionReadyAndBeforeTheWrite) {
  QueuedAtTheGate q;
  ASSERT_EQ(q.gate.queue.size(), 1u);
  sleep_on(q.io, 50ms);  // the server counts its side of the handshake on its own thread
  EXPECT_EQ(q.server.handshakes.load(), 1);
  EXPECT_EQ(q.server.requests.load(), 0);  // no permit, no bytes
  EXPECT_FALSE(q.got);
  q.gate.admit_one();
  EXPECT_EQ(q.gate.sent_reports, 0);  // permitted, not written yet
  const Response& got = q.finish();
  ASSERT_EQ(got.failure, Failure::none) << got.detail;
  EXPECT_EQ(q.gate.sent_reports, 1);
  EXPECT_TRUE(got.permit);
  EXPECT_TRUE(got.sent);
  EXPECT_EQ(q.server.requests.load(), 1);
  EXPECT_EQ(q.gate.requests_at_admission, std::vector<int>{0});
}

TEST(HttpPool, EveryWrittenRequestPassedTheGate) {
  Rig rig(Mode::idle_close);
  TestGate gate(rig.server);
  int sent = 0;
  for (int i = 0; i < 6; ++i) {
    std::optional<Response> got;
    spawn_post(rig.io, rig.pool, gate, got);
    rig.io.restart();
    while (!got) rig.io.run_one();
    if (got->sent) ++sent;
    sleep_on(rig.io, 20ms);
  }
  EXPECT_EQ(static_cast<int>(rig.pool.stats().requests), sent);
  EXPECT_EQ(gate.admitted, sent);  // one permit per write, stale ones included
  EXPECT_EQ(gate.sent_reports, sent);
}

// The pool shuts down while a request waits at the gate, with or without
// its permit taken: nothing is written either way.
struct ShutAtTheGate {
  Response got;
  int sent_reports = 0;
  bool left_queue = false;
  int server_requests = 0;
};
ShutAtTheGate shutdown_at_the_gate(bool admitted) {
  QueuedAtTheGate q;
  EXPECT_EQ(q.gate.queue.size(), 1u);
  if (admitted && !q.gate.queue.empty()) q.gate.admit_one();
  q.pool.shutdown();
  const Response& got = q.finish();
  return {got, q.gate.sent_reports, q.gate.queue.empty(), q.server.requests.load()};
}

TEST(HttpPool, ShutdownWhileQueuedAtTheGateTakesNoPermit) {
  auto r = shutdown_at_the_gate(false);
  EXPECT_EQ(r.got.failure, Failure::cancelled);
  EXPECT_FALSE(r.got.permit);
  EXPECT_TRUE(r.left_queue);
  EXPECT_EQ(r.sent_reports, 0);
  EXPECT_EQ(r.server_requests, 0);
}

// A permit whose request is never written (the pool shut down between the
// permit and the write) still ends: otherwise the gate would count it in
// every window for ever and lose a request's worth of its cap.
TEST(HttpPool, PermitEndsWhenTheWriteNeverHappens) {
  auto r = shutdown_at_the_gate(true);
  EXPECT_EQ(r.got.failure, Failure::cancelled);
  EXPECT_TRUE(r.got.permit);
  EXPECT_FALSE(r.got.sent);
  EXPECT_EQ(r.sent_reports, 1);
  EXPECT_EQ(r.server_requests, 0);
}

// A gate that closes between its permit and the write (a cluster instance
// whose lease may have lapsed while the request's coroutine waited to run):
// nothing is written, the permit still ends once.
TEST(HttpPool, AGateClosedAtTheWriteStopsTheRequestUnsent) {
  QueuedAtTheGate q;
  ASSERT_EQ(q.gate.queue.size(), 1u);
  q.gate.admit_one();
  q.gate.writable = false;
  const Response& got = q.finish();
  EXPECT_EQ(got.failure, Failure::cancelled);
  EXPECT_EQ(got.detail, "not allowed to send now");
  EXPECT_TRUE(got.permit);
  EXPECT_FALSE(got.sent);
  EXPECT_EQ(q.gate.sent_reports, 1);
  EXPECT_EQ(q.server.requests.load(), 0);
  // The pool goes on: the next request, with the gate open, is written.
  q.gate.open_now = true;
  q.gate.writable = true;
  q.got.reset();
  spawn_post(q.io, q.pool, q.gate, q.got);
  const Response& next = q.finish();
  EXPECT_EQ(next.failure, Failure::none) << next.detail;
  EXPECT_EQ(q.server.requests.load(), 1);
}

TEST(HttpPool, IdleConnectionsExpire) {
  Rig rig(Mode::ok, [](PoolOptions& o) { o.idle_timeout = 50ms; });
  ASSERT_EQ(rig.post().failure, Failure::none);
  EXPECT_EQ(rig.pool.stats().idle, 1u);
  sleep_on(rig.io, 200ms);
  EXPECT_EQ(rig.pool.stats().idle, 0u);  // the sweeper closed it
  EXPECT_EQ(rig.pool.stats().open, 0u);
  ASSERT_EQ(rig.post().failure, Failure::none);
  EXPECT_EQ(rig.server.handshakes.load(), 2);
}

TEST(HttpPool, ConnectRefused) {
  asio::io_context io;
  PoolOptions o;
  o.host = "127.0.0.1";
  o.port = std::to_string(gw_test::free_port());
  Pool pool(io.get_executor(), o);
  Response r = post_one(io, pool);
  EXPECT_EQ(r.failure, Failure::connect) << r.detail;
  EXPECT_EQ(pool.stats().open, 0u);
}

TEST(HttpPool, InvalidTargetRefused) {
  Rig rig;
  Response r = rig.post("/x HTTP/1.1\r\nX-Injected: 1\r\n\r\n");
  EXPECT_EQ(r.failure, Failure::protocol);
  EXPECT_EQ(r.detail.find("Injected"), std::string::npos);
  EXPECT_EQ(rig.server.accepted.load(), 0);
}

asio::awaitable<void> send_pieces(Pool& pool, groupwatch::http::Text target, groupwatch::http::Text body,
                                  std::optional<Response>& out) {
  Response r = co_await pool.send(target, body);
  out.emplace(std::move(r));
}

// The hot path's request, written from pieces: the server reads the same
// target and body as from joined strings, and a piece that would split the
// request line is refused like a whole target.
TEST(HttpPool, SendWritesThePiecesAsOneTargetAndBody) {
  Rig rig;
  const std::string random = "1234";
  std::optional<Response> r;
  asio::co_spawn(rig.io,
                 send_pieces(rig.pool, {{"/v4/x?usersig=SIG&random=", random, "&contenttype=json"}},
                             {{R"({"GroupId":")", "@TGS#_ABC", R"("})"}}, r),
                 asio::detached);
  while (!r) rig.io.run_one();
  ASSERT_EQ(r->failure, Failure::none) << r->detail;
  const auto got = rig.server.last();
  EXPECT_EQ(got.target, "/v4/x?usersig=SIG&random=1234&contenttype=json");
  EXPECT_EQ(got.body, R"({"GroupId":"@TGS#_ABC"})");

  r.reset();
  asio::co_spawn(rig.io, send_pieces(rig.pool, {{"/v4/x?a=", "1 HTTP/1.1\r\nX-Injected: 1"}}, {{"{}"}}, r),
                 asio::detached);
  while (!r) rig.io.run_one();
  EXPECT_EQ(r->failure, Failure::protocol);
  EXPECT_EQ(rig.server.requests.load(), 1);
}

TEST(HttpPool, ShutdownCancelsWaitersAndInFlight) {
  Rig rig(Mode::stall, [](PoolOptions& o) {
    o.max_connections = 1;
    o.timeout = 10s;
  });
  asio::steady_timer t(rig.io, 200ms);
  t.async_wait([&](boost::system::error_code) { rig.pool.shutdown(); });
  auto [results, took] = timed([&] { return rig.post_many(3); });
  EXPECT_LT(took, 3s);
  for (const auto& r : results) EXPECT_EQ(r.failure, Failure::cancelled) << r.detail;
  EXPECT_EQ(rig.pool.stats().open, 0u);
  EXPECT_EQ(rig.post().failure, Failure::cancelled);
}

TEST(HttpPool, ShutdownClosesIdleConnections) {
  Rig rig;
  auto results = rig.post_many(3);
  for (const auto& r : results) ASSERT_EQ(r.failure, Failure::none) << r.detail;
  EXPECT_GE(rig.pool.stats().idle, 1u);
  rig.pool.shutdown();
  EXPECT_EQ(rig.pool.stats().idle, 0u);
  EXPECT_EQ(rig.pool.stats().open, 0u);
}

TEST(HttpPool, FailureNames) {
  EXPECT_STREQ(groupwatch::http::to_string(Failure::too_large), "too_large");
  EXPECT_STREQ(groupwatch::http::to_string(Failure::tls), "tls");
  EXPECT_STREQ(groupwatch::http::to_string(Failure::cancelled), "cancelled");
}

}  // namespace
