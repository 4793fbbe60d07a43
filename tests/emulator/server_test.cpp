// The emulator in-process on an ephemeral port, driven over real sockets.
#include "groupwatch/emulator/server.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "emulator/client.hpp"

namespace {

using namespace groupwatch::emulator;
using gw_test::body_for;
using gw_test::Client;
using gw_test::command;
using gw_test::Response;
using gw_test::target_for;
namespace http = boost::beast::http;
using namespace std::chrono_literals;

constexpr std::uint64_t app1 = 1400000001;
constexpr std::uint64_t app2 = 1400000002;
const std::string key1 = "key-one-0123456789abcdef";
const std::string key2 = "key-two-0123456789abcdef";
const std::string admin = "administrator";
const std::string g_ok = "@TGS#_@TGS#AAAAAAAAAAAA";
const std::string g_ok2 = "@TGS#_@TGS#BBBBBBBBBBBB";
const std::string g_public = "@TGS#_@TGS#PUBLIC000000";
const std::string g_502 = "@TGS#_@TGS#FAULT502XXXX";
const std::string g_reset = "@TGS#_@TGS#FAULTRESETXX";
const std::string g_stall = "@TGS#_@TGS#FAULTSTALLXX";
const std::string g_malformed = "@TGS#_@TGS#FAULTMALFORM";
const std::string g_10002 = "@TGS#_@TGS#FAULT10002XX";

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string sig(const std::string& key = key1, std::uint64_t sdkappid = app1, const std::string& id = admin,
                std::int64_t ttl = 86400, std::int64_t now = unix_now()) {
  return groupwatch::tencent::make_usersig(key, sdkappid, id, ttl, now);
}

struct Parsed {
  std::int64_t code = -1;
  std::string status;
  std::optional<std::uint64_t> count;
};

Parsed parse(const Response& res) {
  Parsed p;
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(res.body()).get(doc)) return p;
  std::string_view st;
  if (!doc["ActionStatus"].get_string().get(st)) p.status = std::string(st);
  std::int64_t code = -1;
  if (!doc["ErrorCode"].get_int64().get(code)) p.code = code;
  std::uint64_t n = 0;
  if (!doc["OnlineMemberNum"].get_uint64().get(n)) p.count = n;
  return p;
}

Options base_options(bool tls = true) {
  Options o;
  o.port = 0;
  o.tls = tls;
  o.apps = {App{app1, key1, admin, 200}, App{app2, key2, admin, 200}};
  o.groups = {Group{g_ok},
              Group{g_ok2},
              Group{g_public, GroupType::public_group},
              Group{g_502, GroupType::community, Fault::http502},
              Group{g_reset, GroupType::community, Fault::reset},
              Group{g_stall, GroupType::community, Fault::stall},
              Group{g_malformed, GroupType::community, Fault::malformed},
              Group{g_10002, GroupType::community, Fault::e10002}};
  o.stall = 5s;
  return o;
}

class EmulatorServer : public ::testing::Test {
 protected:
  void start(Options o) {
    server_ = std::make_unique<Server>(ioc_, std::move(o));
    port_ = server_->start();
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void stop() {
    if (!server_ || stopped_) return;
    server_->stop();
    thread_.join();
    stopped_ = true;
  }
  void TearDown() override { stop(); }

  std::unique_ptr<Client> client() { return std::make_unique<Client>(port_, server_->ca_pem()); }
  std::unique_ptr<Client> connected() {
    auto c = client();
    EXPECT_FALSE(c->connect()) << "connect";
    return c;
  }
  Parsed ask(Client& c, const std::string& group, const std::string& usersig = sig()) {
    Response res;
    const auto ec = c.call(command(target_for(app1, admin, usersig), body_for(group)), res);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(res.result_int(), 200u) << res.body();
    return parse(res);
  }

  boost::asio::io_context ioc_;
  std::unique_ptr<Server> server_;
  std::thread thread_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;
};

TEST_F(EmulatorServer, AnswersOkWithTheDeterministicCount) {
  auto o = base_options();
  o.clock = [] { return std::chrono::system_clock::time_point(std::chrono::minutes(4 * 1000) + 30s); };
  start(o);
  auto c = connected();
  const auto p = ask(*c, g_ok);
  EXPECT_EQ(p.status, "OK");
  EXPECT_EQ(p.code, 0);
  ASSERT_TRUE(p.count.has_value());
  EXPECT_EQ(*p.count, member_count(g_ok, 1000));
}

TEST_F(EmulatorServer, GivesEveryDocumentedErrorCode) {
  start(base_options());
  auto c = connected();
  const std::string good = sig();
  struct Case {
    std::string name, target, body;
    std::int64_t code;
  };
  const std::vector<Case> cases = {
      {"bad signature", target_for(app1, admin, sig("wrong-key")), body_for(g_ok), 70003},
      {"garbage usersig", target_for(app1, admin, "not*a*sig"), body_for(g_ok), 70003},
      {"expired", target_for(app1, admin, sig(key1, app1, admin, 60, unix_now() - 3600)), body_for(g_ok), 70001},
      {"identifier differs from the sig", target_for(app1, "bob", good), body_for(g_ok), 70013},
      {"sdkappid differs from the sig", target_for(app1, admin, sig(key1, app2)), body_for(g_ok), 70009},
      {"not an admin", target_for(app1, "bob", sig(key1, app1, "bob")), body_for(g_ok), 60010},
      {"unknown app", target_for(1400009999, admin, good), body_for(g_ok), 70016},
      {"no sdkappid",
       "/v4/million_group_open_http_svc/get_online_member_num?identifier=administrator&usersig=" + good +
           "&random=1&contenttype=json",
       body_for(g_ok), 60012},
      {"no usersig",
       "/v4/million_group_open_http_svc/get_online_member_num?sdkappid=1400000001&identifier=administrator&"
       "random=1&contenttype=json",
       body_for(g_ok), 60004},
      {"random out of range",
       "/v4/million_group_open_http_svc/get_online_member_num?sdkappid=1400000001&identifier=administrator&usersig=" +
           good + "&random=4294967296&contenttype=json",
       body_for(g_ok), 10004},
      {"contenttype not json",
       "/v4/million_group_open_http_svc/get_online_member_num?sdkappid=1400000001&identifier=administrator&usersig=" +
           good + "&random=7&contenttype=xml",
       body_for(g_ok), 10004},
      {"body not JSON", target_for(app1, admin, good), "GroupId=x", 10004},
      {"no GroupId", target_for(app1, admin, good), "{}", 10004},
      {"GroupId not a string", target_for(app1, admin, good), R"({"GroupId":12})", 10004},
      {"not the Community form", target_for(app1, admin, good), body_for("@TGS#2ABCDEFGH"), 10015},
      {"unknown group", target_for(app1, admin, good), body_for("@TGS#_@TGS#NOSUCHGROUP1"), 10010},
      {"not a Community group", target_for(app1, admin, good), body_for(g_public), 10007},
      {"10002 fault", target_for(app1, admin, good), body_for(g_10002), 10002},
  };
  for (const auto& tc : cases) {
    Response res;
    const auto ec = c->call(command(tc.target, tc.body), res);
    ASSERT_FALSE(ec) << tc.name << ": " << ec.message();
    EXPECT_EQ(res.result_int(), 200u) << tc.name;
    const auto p = parse(res);
    EXPECT_EQ(p.code, tc.code) << tc.name << ": " << res.body();
    EXPECT_EQ(p.status, "FAIL") << tc.name;
    EXPECT_FALSE(p.count.has_value()) << tc.name;
  }
  // All on one connection: errors keep it alive.
  const auto s = server_->stats();
  EXPECT_EQ(s.connections_accepted, 1u);
  EXPECT_EQ(s.requests, cases.size());
  EXPECT_EQ(s.codes.at(70003), 2u);
}

TEST_F(EmulatorServer, HttpLevelErrors) {
  start(base_options());
  auto c = connected();
  Response res;
  ASSERT_FALSE(c->call(command("/v4/other/command?x=1", body_for(g_ok)), res));
  EXPECT_EQ(res.result_int(), 404u);
  auto get = command(target_for(app1, admin, sig()), "");
  get.method(http::verb::get);
  ASSERT_FALSE(c->call(get, res));
  EXPECT_EQ(res.result_int(), 405u);
  // Over the body limit: 413, then the connection closes.
  ASSERT_FALSE(c->call(command(target_for(app1, admin, sig()), std::string(20000, 'x')), res));
  EXPECT_EQ(res.result_int(), 413u);
  EXPECT_FALSE(res.keep_alive());
  EXPECT_TRUE(c->read(res, 3s)) << "connection should be closed";
  const auto s = server_->stats();
  EXPECT_EQ(s.events.at("http_404"), 1u);
  EXPECT_EQ(s.events.at("http_405"), 1u);
  EXPECT_EQ(s.events.at("http_413"), 1u);
}

TEST_F(EmulatorServer, FaultsPerGroup) {
  start(base_options());
  {
    auto c = connected();
    Response res;
    ASSERT_FALSE(c->call(command(target_for(app1, admin, sig()), body_for(g_502)), res));
    EXPECT_EQ(res.result_int(), 502u);
    EXPECT_NE(res.body().find("<html>"), std::string::npos);
    EXPECT_EQ(res[http::field::content_type], "text/html");
    // Malformed: 200 with a truncated JSON body, on the same connection.
    ASSERT_FALSE(c->call(command(target_for(app1, admin, sig()), body_for(g_malformed)), res));
    EXPECT_EQ(res.result_int(), 200u);
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    EXPECT_TRUE(parser.parse(res.body()).get(doc)) << "should not be valid JSON: " << res.body();
  }
  {
    auto c = connected();
    Response res;
    const auto ec = c->call(command(target_for(app1, admin, sig()), body_for(g_reset)), res);
    EXPECT_TRUE(ec) << "reset should give no answer";
  }
  {
    auto c = connected();
    Response res;
    ASSERT_FALSE(c->write(command(target_for(app1, admin, sig()), body_for(g_stall))));
    const auto ec = c->read(res, 300ms);
    EXPECT_EQ(ec, boost::beast::error::timeout) << ec.message();
  }
  const auto s = server_->stats();
  EXPECT_EQ(s.events.at("http_502"), 1u);
  EXPECT_EQ(s.events.at("malformed"), 1u);
  EXPECT_EQ(s.events.at("reset"), 1u);
  EXPECT_EQ(s.events.at("stall"), 1u);
  // stop() must not wait for the 5 s stall.
  const auto t0 = std::chrono::steady_clock::now();
  stop();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 4s);
}

TEST_F(EmulatorServer, FaultRatesChangeAtRunTime) {
  start(base_options());
  auto c = connected();
  server_->set_faults(FaultRates{.e10002 = 1.0});
  EXPECT_EQ(ask(*c, g_ok).code, 10002);
  Response res;
  ASSERT_FALSE(c->call(command("/_emulator/fault?10002=0&502=1", ""), res));
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  ASSERT_FALSE(c->call(command(target_for(app1, admin, sig()), body_for(g_ok)), res));
  EXPECT_EQ(res.result_int(), 502u);
  ASSERT_FALSE(c->call(command("/_emulator/fault?502=0", ""), res));
  EXPECT_EQ(ask(*c, g_ok).code, 0);
  ASSERT_FALSE(c->call(command("/_emulator/fault?502=1.5", ""), res));
  EXPECT_EQ(res.result_int(), 400u);
}

TEST_F(EmulatorServer, LatencyDelaysTheAnswer) {
  auto o = base_options(false);
  o.latency = Latency{150ms, 150ms};
  start(o);
  auto c = connected();
  ask(*c, g_ok);  // warm up (connection, UserSig cache)
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(ask(*c, g_ok).code, 0);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 140ms);
}

TEST_F(EmulatorServer, KeepAliveUsesOneHandshake) {
  start(base_options());
  auto c = connected();
  const std::string s1 = sig();
  for (int i = 0; i < 20; ++i) EXPECT_EQ(ask(*c, i % 2 ? g_ok : g_ok2, s1).code, 0);
  const auto s = server_->stats();
  EXPECT_EQ(s.handshakes, 1u);
  EXPECT_EQ(s.connections_accepted, 1u);
  EXPECT_EQ(s.codes.at(0), 20u);
  EXPECT_EQ(s.usersig_verifications, 1u) << "verified UserSigs are cached";
}

TEST_F(EmulatorServer, PipelinedRequestsAreAnsweredInOrder) {
  auto o = base_options();
  o.clock = [] { return std::chrono::system_clock::time_point(std::chrono::minutes(4 * 77)); };
  start(o);
  auto c = connected();
  const std::vector<std::string> groups = {g_ok, g_ok2, "@TGS#_@TGS#MISSING00000", g_public, g_ok};
  std::string all;
  for (const auto& g : groups) {
    std::ostringstream os;
    os << command(target_for(app1, admin, sig()), body_for(g));
    all += os.str();
  }
  ASSERT_FALSE(c->write_raw(all));
  std::vector<Parsed> answers;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    Response res;
    ASSERT_FALSE(c->read(res)) << i;
    answers.push_back(parse(res));
  }
  EXPECT_EQ(answers[0].count, member_count(g_ok, 77));
  EXPECT_EQ(answers[1].count, member_count(g_ok2, 77));
  EXPECT_NE(member_count(g_ok, 77), member_count(g_ok2, 77));
  EXPECT_EQ(answers[2].code, 10010);
  EXPECT_EQ(answers[3].code, 10007);
  EXPECT_EQ(answers[4].count, member_count(g_ok, 77));
}

TEST_F(EmulatorServer, HonoursConnectionClose) {
  start(base_options());
  auto c = connected();
  Response res;
  ASSERT_FALSE(c->call(command(target_for(app1, admin, sig()), body_for(g_ok), /*keep_alive=*/false), res));
  EXPECT_EQ(parse(res).code, 0);
  EXPECT_FALSE(res.keep_alive());
  const auto ec = c->read(res, 3s);
  EXPECT_TRUE(ec == boost::asio::error::eof || ec == http::error::end_of_stream ||
              ec == boost::asio::ssl::error::stream_truncated)
      << ec.message();
}

TEST_F(EmulatorServer, QpsCapRejectsTheExcessWithinOneSecond) {
  start(base_options(/*tls=*/false));
  const std::string s1 = sig();
  std::string batch;
  for (int i = 0; i < 100; ++i) {
    std::ostringstream os;
    os << command(target_for(app1, admin, s1, static_cast<std::uint32_t>(i)), body_for(g_ok));
    batch += os.str();
  }
  std::vector<std::unique_ptr<Client>> clients;
  for (int k = 0; k < 3; ++k) {
    clients.push_back(client());
    ASSERT_FALSE(clients.back()->connect());
  }
  for (auto& c : clients) ASSERT_FALSE(c->write_raw(batch));
  int ok = 0, limited = 0;
  for (auto& c : clients) {
    for (int i = 0; i < 100; ++i) {
      Response res;
      ASSERT_FALSE(c->read(res));
      const auto code = parse(res).code;
      ok += code == 0;
      limited += code == 60007;
    }
  }
  EXPECT_EQ(ok + limited, 300);
  EXPECT_GE(limited, 100);
  EXPECT_LE(ok, 200 * 2);  // at most two windows' worth even on a very slow machine
  const auto s = server_->stats();
  EXPECT_GE(s.apps.at(app1).max_window, 201u);
  EXPECT_EQ(s.apps.at(app2).requests, 0u) << "the cap is per app";
  // The other app is not affected.
  auto c2 = client();
  ASSERT_FALSE(c2->connect());
  Response res;
  ASSERT_FALSE(c2->call(command(target_for(app2, admin, sig(key2, app2)), body_for(g_ok)), res));
  EXPECT_EQ(parse(res).code, 0);
}

TEST_F(EmulatorServer, CountsStayWithinARefreshPeriod) {
  auto o = base_options();
  auto ms = std::make_shared<std::atomic<std::int64_t>>(240'000LL * 5000 + 1000);  // early in cycle 5000
  o.clock = [ms] { return std::chrono::system_clock::time_point(std::chrono::milliseconds(ms->load())); };
  start(o);
  auto c = connected();
  // The UserSig must be valid at the emulator's (fake) time.
  const std::string s = sig(key1, app1, admin, 86400, ms->load() / 1000);
  const auto first = ask(*c, g_ok, s).count;
  ms->fetch_add(200'000);  // still cycle 5000
  EXPECT_EQ(ask(*c, g_ok, s).count, first);
  EXPECT_EQ(first, member_count(g_ok, 5000));
  ms->fetch_add(60'000);  // cycle 5001
  EXPECT_EQ(ask(*c, g_ok, s).count, member_count(g_ok, 5001));
  // The count does change between cycles (for some cycle near by).
  bool changed = false;
  for (int k = 1; k < 10 && !changed; ++k) changed = member_count(g_ok, 5000 + k) != member_count(g_ok, 5000);
  EXPECT_TRUE(changed);
}

TEST_F(EmulatorServer, CachedUserSigStillExpires) {
  auto o = base_options();
  auto secs = std::make_shared<std::atomic<std::int64_t>>(1'800'000'000);
  o.clock = [secs] { return std::chrono::system_clock::time_point(std::chrono::seconds(secs->load())); };
  start(o);
  auto c = connected();
  const std::string s = sig(key1, app1, admin, 60, secs->load());
  EXPECT_EQ(ask(*c, g_ok, s).code, 0);
  secs->fetch_add(30);
  EXPECT_EQ(ask(*c, g_ok, s).code, 0);
  secs->fetch_add(120);
  EXPECT_EQ(ask(*c, g_ok, s).code, 70001);
}

TEST_F(EmulatorServer, ControlApi) {
  start(base_options());
  auto c = connected();
  EXPECT_EQ(ask(*c, g_ok2).code, 0);
  Response res;
  ASSERT_FALSE(c->call(command("/_emulator/dissolve?group=%40TGS%23_%40TGS%23BBBBBBBBBBBB", ""), res));
  EXPECT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(ask(*c, g_ok2).code, 10010);

  ASSERT_FALSE(c->call(command("/_emulator/qps?sdkappid=1400000001&qps=1", ""), res));
  EXPECT_EQ(res.result_int(), 200u) << res.body();
  EXPECT_EQ(ask(*c, g_ok).code, 60007) << "the window already holds earlier requests";
  ASSERT_FALSE(c->call(command("/_emulator/qps?sdkappid=42&qps=1", ""), res));
  EXPECT_EQ(res.result_int(), 400u);

  auto get = command("/_emulator/stats?groups=1", "");
  get.method(http::verb::get);
  ASSERT_FALSE(c->call(get, res));
  EXPECT_EQ(res.result_int(), 200u);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.parse(res.body()).get(doc)) << res.body();
  EXPECT_EQ(doc["requests"].get_uint64().value(), 3u);
  EXPECT_EQ(doc["codes"]["60007"].get_uint64().value(), 1u);
  EXPECT_EQ(doc["groups"][g_ok2].get_uint64().value(), 2u);
  EXPECT_EQ(doc["apps"]["1400000001"]["qps"].get_uint64().value(), 1u);

  ASSERT_FALSE(c->call(command("/_emulator/reset-stats", ""), res));
  EXPECT_EQ(server_->stats().requests, 0u);
  ASSERT_FALSE(c->call(command("/_emulator/nothing", ""), res));
  EXPECT_EQ(res.result_int(), 404u);
}

TEST_F(EmulatorServer, DownResetsConnections) {
  start(base_options(false));
  server_->set_down_for(60s);
  auto c = client();
  if (!c->connect()) {
    Response res;
    EXPECT_TRUE(c->call(command(target_for(app1, admin, sig()), body_for(g_ok)), res));
  }
  server_->set_down_for(0ms);
  auto c2 = client();
  ASSERT_FALSE(c2->connect());
  EXPECT_EQ(ask(*c2, g_ok).code, 0);
  EXPECT_GE(server_->stats().events.at("down"), 1u);
}

TEST_F(EmulatorServer, UntrustedClientFailsTheHandshake) {
  start(base_options());
  // Trust a different certificate: the handshake must fail verification.
  Client c(port_, generate_self_signed().cert_pem);
  EXPECT_TRUE(c.connect());
  // The right one, reached by IP (the certificate names 127.0.0.1 too).
  Client ok(port_, server_->ca_pem(), "127.0.0.1");
  EXPECT_FALSE(ok.connect());
}

TEST_F(EmulatorServer, WritesARequestLog) {
  const auto path = std::filesystem::temp_directory_path() / ("gw-emulator-log-" + std::to_string(::getpid()));
  std::filesystem::remove(path);
  auto o = base_options(false);
  o.request_log_file = path.string();
  start(o);
  {
    auto c = connected();
    EXPECT_EQ(ask(*c, g_ok).code, 0);
    EXPECT_EQ(ask(*c, g_public).code, 10007);
  }
  stop();
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::filesystem::remove(path);
  ASSERT_EQ(lines.size(), 2u);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.parse(lines[1]).get(doc)) << lines[1];
  EXPECT_EQ(doc["code"].get_int64().value(), 10007);
  EXPECT_EQ(doc["group"].get_string().value(), g_public);
  EXPECT_EQ(doc["sdkappid"].get_uint64().value(), app1);
  EXPECT_EQ(lines[0].find(key1), std::string::npos);
}

TEST(EmulatorModel, GeneratedIdsAreReproducibleAndWellFormed) {
  const auto a = generate_group_ids(50, 7);
  EXPECT_EQ(a, generate_group_ids(50, 7));
  EXPECT_NE(a, generate_group_ids(50, 8));
  for (const auto& id : a) {
    ASSERT_EQ(id.size(), 23u);
    EXPECT_TRUE(id.starts_with("@TGS#_@TGS#"));
    EXPECT_TRUE(well_formed_group_id(id));
    for (char ch : id.substr(11)) EXPECT_TRUE((ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')) << id;
  }
  EXPECT_FALSE(well_formed_group_id("@TGS#ABC"));
  EXPECT_FALSE(well_formed_group_id("@TGS#_"));
  EXPECT_FALSE(well_formed_group_id("@TGS#_a b"));
}

}  // namespace
