// The emulator in-process on an ephemeral port, driven over real sockets.
#include "groupwatch/emulator/server.hpp"

#include <gtest/gtest.h>
#include <simdjson.h>

#include <atomic>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <thread>

#include <boost/asio/post.hpp>

#include "emulator/client.hpp"
#include "groupwatch/util/text.hpp"

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

constexpr std::string_view list_path = "/v4/group_open_http_svc/get_appid_group_list";
constexpr std::string_view info_path = "/v4/group_open_http_svc/get_group_info";
constexpr std::uint64_t two_to_32 = std::uint64_t{1} << 32;
const std::string name_filter = R"({"GroupBaseInfoFilter":["Type","Name","MemberNum"]})";

/// Apps 1400000101.. (key1), besides app1 and app2: each has its own list window.
void add_apps(Options& o, int n) {
  for (int i = 0; i < n; ++i) o.apps.push_back(App{1400000101 + static_cast<std::uint64_t>(i), key1, admin, 200});
}
const std::string& key_of(std::uint64_t app) {
  return app == app2 ? key2 : key1;
}

/// Every byte but [A-Za-z0-9] percent-encoded.
std::string pct(std::string_view s) {
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char ch : s) {
    if (std::isalnum(ch)) {
      out += static_cast<char>(ch);
    } else {
      out += '%';
      out += hex[ch >> 4];
      out += hex[ch & 15];
    }
  }
  return out;
}

struct ListPage {
  unsigned status = 0;
  std::int64_t code = -1;
  std::uint64_t total = 0;
  std::vector<std::string> ids;
  std::uint64_t next = 0;
  bool has_next = false;
};

ListPage parse_list(const Response& res) {
  ListPage p;
  p.status = res.result_int();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(res.body()).get(doc)) return p;
  std::int64_t code = -1;
  if (!doc["ErrorCode"].get_int64().get(code)) p.code = code;
  if (doc["TotalCount"].get_uint64().get(p.total)) p.total = 0;
  p.has_next = !doc["Next"].get_uint64().get(p.next);
  simdjson::dom::array list;
  if (!doc["GroupIdList"].get_array().get(list)) {
    for (auto e : list) {
      std::string_view id;
      if (!e["GroupId"].get_string().get(id)) p.ids.emplace_back(id);
    }
  }
  return p;
}

struct InfoEntry {
  std::int64_t code = -1;
  std::string error_info;
  std::optional<std::string> type, name;
  std::optional<std::uint64_t> members;
};

struct InfoAnswer {
  unsigned status = 0;
  std::int64_t code = -1;
  std::size_t entries = 0;
  std::map<std::string, InfoEntry> groups;  // by GroupId
  std::string body;
};

std::optional<std::string> string_field(simdjson::dom::element e, const char* key) {
  std::string_view v;
  if (e[key].get_string().get(v)) return std::nullopt;
  return std::string(v);
}

InfoAnswer parse_info(const Response& res) {
  InfoAnswer a;
  a.status = res.result_int();
  a.body = res.body();
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  if (parser.parse(res.body()).get(doc)) return a;
  if (doc["ErrorCode"].get_int64().get(a.code)) a.code = -1;
  simdjson::dom::array list;
  if (doc["GroupInfo"].get_array().get(list)) return a;
  for (auto e : list) {
    ++a.entries;
    InfoEntry g;
    if (e["ErrorCode"].get_int64().get(g.code)) g.code = -1;
    g.error_info = string_field(e, "ErrorInfo").value_or("?");
    g.type = string_field(e, "Type");
    g.name = string_field(e, "Name");
    std::uint64_t n = 0;
    if (!e["MemberNum"].get_uint64().get(n)) g.members = n;
    a.groups[string_field(e, "GroupId").value_or("?")] = g;
  }
  return a;
}

std::string info_body(const std::vector<std::string>& ids, const std::string& filter = name_filter) {
  std::string b = R"({"GroupIdList":[)";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) b += ',';
    groupwatch::append_json_string(b, ids[i]);
  }
  b += ']';
  if (!filter.empty()) b += R"(,"ResponseFilter":)" + filter;
  b += '}';
  return b;
}

std::string list_body(std::uint64_t limit, std::uint64_t next) {
  return R"({"Limit":)" + std::to_string(limit) + R"(,"Next":)" + std::to_string(next) + "}";
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
  Response post(Client& c, const std::string& target, const std::string& body) {
    Response res;
    const auto ec = c.call(command(target, body), res);
    EXPECT_FALSE(ec) << ec.message();
    return res;
  }
  ListPage list_with(Client& c, const std::string& body, std::uint64_t app = app1) {
    return parse_list(post(c, gw_test::target_at(list_path, app, admin, sig(key_of(app), app)), body));
  }
  ListPage list(Client& c, std::uint64_t limit, std::uint64_t next, std::uint64_t app = app1) {
    return list_with(c, list_body(limit, next), app);
  }
  InfoAnswer info_with(Client& c, const std::string& body, const std::string& usersig = sig()) {
    return parse_info(post(c, gw_test::target_at(info_path, app1, admin, usersig), body));
  }
  unsigned control(Client& c, const std::string& target) {
    Response res;
    EXPECT_FALSE(c.call(command(target, ""), res));
    return res.result_int();
  }

  Parsed ask(Client& c, const std::string& group, const std::string& usersig = sig()) {
    Response res;
    const auto ec = c.call(command(target_for(app1, admin, usersig), body_for(group)), res);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_EQ(res.result_int(), 200u) << res.body();
    return parse(res);
  }

  // The vendor counts a call when it arrives. Three calls arrive 1.2 s and
  // 0.05 s apart while the emulator's thread is busy: read together, they
  // would share a second; by their arrival no second holds more than two,
  // and a cap of 2 answers all three.
  void counts_calls_when_they_arrive(bool tls) {
    Options o = base_options(tls);
    o.apps[0].qps = 2;
    start(std::move(o));
    std::vector<std::unique_ptr<Client>> clients;
    for (int k = 0; k < 3; ++k) clients.push_back(connected());
    const std::string s1 = sig();
    std::atomic<bool> busy{false};
    std::chrono::steady_clock::time_point busy_since;
    boost::asio::post(ioc_, [&] {
      busy_since = std::chrono::steady_clock::now();
      busy = true;
      std::this_thread::sleep_for(1500ms);
    });
    while (!busy) std::this_thread::sleep_for(1ms);
    const auto t0 = std::chrono::steady_clock::now();
    ASSERT_FALSE(clients[0]->write(command(target_for(app1, admin, s1, 1), body_for(g_ok))));
    std::this_thread::sleep_until(t0 + 1200ms);
    ASSERT_FALSE(clients[1]->write(command(target_for(app1, admin, s1, 2), body_for(g_ok))));
    std::this_thread::sleep_until(t0 + 1250ms);
    ASSERT_FALSE(clients[2]->write(command(target_for(app1, admin, s1, 3), body_for(g_ok))));
    EXPECT_LT(std::chrono::steady_clock::now(), busy_since + 1500ms) << "the thread was busy while they arrived";
    for (auto& c : clients) {
      Response res;
      ASSERT_FALSE(c->read(res));
      EXPECT_EQ(parse(res).code, 0) << res.body();
    }
    EXPECT_EQ(server_->stats().apps.at(app1).max_window, 2u);
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

TEST_F(EmulatorServer, CountsACallWhenItArrivesNotWhenItIsRead) {
  counts_calls_when_they_arrive(/*tls=*/true);
}

TEST_F(EmulatorServer, CountsACallWhenItArrivesOverPlainHttpToo) {
  counts_calls_when_they_arrive(/*tls=*/false);
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
    EXPECT_EQ(list(*c, 10, 0).code, 0);
    EXPECT_EQ(info_with(*c, info_body({g_ok})).code, 0);
    EXPECT_EQ(post(*c, "/v4/other/command", "{}").result_int(), 404u);
  }
  stop();
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  std::filesystem::remove(path);
  ASSERT_EQ(lines.size(), 5u);
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.parse(lines[1]).get(doc)) << lines[1];
  EXPECT_EQ(doc["code"].get_int64().value(), 10007);
  EXPECT_EQ(doc["group"].get_string().value(), g_public);
  EXPECT_EQ(doc["sdkappid"].get_uint64().value(), app1);
  EXPECT_EQ(lines[0].find(key1), std::string::npos);
  // Which command each line was for.
  const std::vector<std::string> cmds = {"online", "online", "list", "info"};
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    ASSERT_FALSE(parser.parse(lines[i]).get(doc)) << lines[i];
    EXPECT_EQ(doc["cmd"].get_string().value(), cmds[i]) << lines[i];
    EXPECT_EQ(doc["code"].get_int64().value(), i == 1 ? 10007 : 0) << lines[i];
  }
  ASSERT_FALSE(parser.parse(lines[2]).get(doc));
  EXPECT_TRUE(doc["group"].is_null()) << "a list call is for no one group";
  ASSERT_FALSE(parser.parse(lines[4]).get(doc)) << lines[4];
  EXPECT_TRUE(doc["cmd"].is_null()) << "a 404 is for no command";
}

// ---- group discovery: get_appid_group_list and get_group_info ----

TEST_F(EmulatorServer, ListsEveryGroupOnceAcrossThreePages) {
  auto o = base_options(false);
  const auto ids = generate_group_ids(25'000, 42);
  const std::array types{GroupType::community, GroupType::public_group, GroupType::private_group, GroupType::chatroom,
                         GroupType::avchatroom};
  o.groups.clear();
  for (std::size_t i = 0; i < ids.size(); ++i) o.groups.push_back(Group{ids[i], types[i % types.size()]});
  start(o);
  auto c = connected();
  std::set<std::string> seen;
  std::vector<std::size_t> sizes;
  std::uint64_t next = 0;
  for (int page = 1; page <= 3; ++page) {
    if (page > 1) std::this_thread::sleep_for(1050ms);  // 1 call per second
    const auto t0 = std::chrono::steady_clock::now();
    const auto p = list(*c, 10000, next);
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 500ms) << "page " << page;
    ASSERT_EQ(p.code, 0) << "page " << page;
    EXPECT_EQ(p.total, 25'000u);
    ASSERT_TRUE(p.has_next);
    sizes.push_back(p.ids.size());
    for (const auto& id : p.ids) EXPECT_TRUE(seen.insert(id).second) << "listed twice: " << id;
    if (page < 3) {
      EXPECT_GT(p.next, two_to_32) << "page " << page;
    } else {
      EXPECT_EQ(p.next, 0u);
    }
    next = p.next;
  }
  EXPECT_EQ(sizes, (std::vector<std::size_t>{10'000, 10'000, 5'000}));
  EXPECT_EQ(seen, std::set<std::string>(ids.begin(), ids.end()));
}

TEST_F(EmulatorServer, ListIsLimitedToOneCallPerSecondPerApp) {
  start(base_options(false));
  auto c = connected();
  const auto first = list(*c, 100, 0);
  EXPECT_EQ(first.code, 0);
  EXPECT_EQ(first.ids.size(), 8u);
  EXPECT_EQ(first.next, 0u) << "everything fits";
  const auto again = list(*c, 100, 0);
  EXPECT_EQ(again.code, 60007);
  EXPECT_TRUE(again.ids.empty());
  EXPECT_EQ(list(*c, 100, 0, app2).code, 0) << "the limit is per app";
  EXPECT_EQ(ask(*c, g_ok).code, 0) << "get_online_member_num has its own window";

  auto s = server_->stats();
  EXPECT_EQ(s.list_requests, 3u);
  EXPECT_EQ(s.requests, 1u);
  EXPECT_EQ(s.codes.at(60007), 1u);
  EXPECT_EQ(s.apps.at(app1).list_calls, 2u);
  EXPECT_EQ(s.apps.at(app1).list_max_window, 2u);
  EXPECT_EQ(s.apps.at(app1).requests, 1u);
  EXPECT_EQ(s.apps.at(app1).max_window, 1u);
  EXPECT_EQ(s.apps.at(app2).list_calls, 1u);

  auto get = command("/_emulator/stats", "");
  get.method(http::verb::get);
  Response res;
  ASSERT_FALSE(c->call(get, res));
  simdjson::dom::parser parser;
  simdjson::dom::element doc;
  ASSERT_FALSE(parser.parse(res.body()).get(doc)) << res.body();
  EXPECT_EQ(doc["list_requests"].get_uint64().value(), 3u);
  EXPECT_EQ(doc["info_requests"].get_uint64().value(), 0u);
  const auto a1 = doc["apps"]["1400000001"];
  EXPECT_EQ(a1["list_calls"].get_uint64().value(), 2u);
  EXPECT_EQ(a1["list_max_window"].get_uint64().value(), 2u);
  EXPECT_EQ(a1["info_calls"].get_uint64().value(), 0u);
  EXPECT_EQ(a1["info_max_window"].get_uint64().value(), 0u);
  EXPECT_EQ(a1["info_max_ids"].get_uint64().value(), 0u);

  EXPECT_EQ(control(*c, "/_emulator/reset-stats"), 200u);
  s = server_->stats();
  EXPECT_EQ(s.apps.at(app1).list_calls, 0u);
  EXPECT_EQ(s.list_requests, 0u);
}

TEST_F(EmulatorServer, ListRefusesBadParameters) {
  auto o = base_options(false);
  add_apps(o, 9);
  start(o);
  auto c = connected();
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"Limit 0", R"({"Limit":0,"Next":0})"},
      {"Limit over 10000", R"({"Limit":10001,"Next":0})"},
      {"no Limit", R"({"Next":0})"},
      {"Limit a string", R"({"Limit":"10","Next":0})"},
      {"Next negative", R"({"Limit":10,"Next":-1})"},
      {"Next below the cursor base", R"({"Limit":10,"Next":4294967296})"},
      {"Next a string", R"({"Limit":10,"Next":"0"})"},
      {"Next fractional", R"({"Limit":10,"Next":1.5})"},
      {"not an object", R"([10,0])"},
  };
  std::uint64_t app = 1400000101;  // one app per case: each has its own 1/s window
  for (const auto& [name, body] : cases) {
    const auto p = list_with(*c, body, app++);
    EXPECT_EQ(p.code, 10004) << name;
    EXPECT_TRUE(p.ids.empty()) << name;
  }
  // Next in full 64-bit range parses; a cursor past every group is an empty last page.
  const auto far = list_with(*c, R"({"Limit":10,"Next":18446744073709551615})", app1);
  EXPECT_EQ(far.code, 0);
  EXPECT_TRUE(far.ids.empty());
  EXPECT_EQ(far.total, 8u);
  EXPECT_EQ(far.next, 0u);
}

TEST_F(EmulatorServer, CreateAndDissolveChangeTheListing) {
  auto o = base_options(false);
  o.accept_any_group = true;
  start(o);
  auto c = connected();
  const std::string g_any = "@TGS#_@TGS#ANYGROUP0001";
  const std::string g_new1 = "@TGS#_@TGS#NEWGROUP0001";
  const std::string g_new2 = "@TGS#_@TGS#NEWGROUP0002";
  EXPECT_EQ(ask(*c, g_any).code, 0) << "accepted, but never listed";

  const auto p1 = list(*c, 3, 0);
  ASSERT_EQ(p1.code, 0);
  EXPECT_EQ(p1.total, 8u);
  EXPECT_EQ(p1.ids, (std::vector<std::string>{g_ok, g_ok2, g_public}));
  EXPECT_GT(p1.next, two_to_32);

  // Between pages: one group already returned and one not yet returned go,
  // two new ones come.
  EXPECT_TRUE(server_->dissolve(g_ok2));
  EXPECT_TRUE(server_->dissolve(g_reset));
  const std::string name = "Café \"VIP\" \\ 会员\n";
  EXPECT_EQ(control(*c, "/_emulator/create?group=" + pct(g_new1) + "&type=Public&name=" + pct(name)), 200u);
  EXPECT_EQ(control(*c, "/_emulator/create?group=" + pct(g_new1)), 409u);
  EXPECT_EQ(control(*c, "/_emulator/create?group=" + pct("@TGS#2NOTCOMMUNITY")), 400u);
  EXPECT_EQ(control(*c, "/_emulator/create?group=" + pct(g_new2) + "&type=Secret"), 400u);
  EXPECT_EQ(control(*c, "/_emulator/create"), 400u);
  EXPECT_TRUE(server_->create_group(Group{g_new2, GroupType::chatroom}));
  EXPECT_FALSE(server_->create_group(Group{g_new2})) << "already listed";
  EXPECT_FALSE(server_->create_group(Group{"no-such-form"}));

  std::this_thread::sleep_for(1050ms);
  const auto p2 = list(*c, 10000, p1.next);
  ASSERT_EQ(p2.code, 0);
  EXPECT_EQ(p2.ids, (std::vector<std::string>{g_502, g_stall, g_malformed, g_10002, g_new1, g_new2}));
  EXPECT_EQ(p2.total, 8u);
  EXPECT_EQ(p2.next, 0u);

  const auto i = info_with(*c, info_body({g_new1, g_new2, g_reset}));
  ASSERT_EQ(i.code, 0) << i.body;
  EXPECT_EQ(i.groups.at(g_new1).type, "Public");
  EXPECT_EQ(i.groups.at(g_new1).name, name);
  EXPECT_EQ(i.groups.at(g_new2).type, "ChatRoom");
  EXPECT_EQ(i.groups.at(g_new2).name, "Group UP0002");
  EXPECT_EQ(i.groups.at(g_reset).code, 10010);

  // A dissolved group created again is listed again, after the others.
  EXPECT_TRUE(server_->create_group(Group{g_ok2}));
  EXPECT_EQ(ask(*c, g_ok2).code, 0);
  std::this_thread::sleep_for(1050ms);
  const auto all = list(*c, 10000, 0);
  ASSERT_EQ(all.code, 0);
  EXPECT_EQ(all.ids,
            (std::vector<std::string>{g_ok, g_public, g_502, g_stall, g_malformed, g_10002, g_new1, g_new2, g_ok2}));
}

TEST_F(EmulatorServer, GroupInfoAnswersTypeNameAndMemberNum) {
  auto o = base_options(false);
  const std::string vip = "VIP \"lounge\" \\ 会员\t";
  o.groups[0].name = vip;  // g_ok
  const auto fake_now = std::chrono::minutes(4 * 1000) + 30s;
  o.clock = [fake_now] { return std::chrono::system_clock::time_point(fake_now); };
  start(o);
  auto c = connected();
  const std::string s =
      sig(key1, app1, admin, 86400, std::chrono::duration_cast<std::chrono::seconds>(fake_now).count());
  EXPECT_TRUE(server_->dissolve(g_ok2));
  const std::string unknown = "@TGS#_@TGS#NOSUCHGROUP1";
  const auto a = info_with(*c, info_body({g_ok, g_public, g_ok2, unknown, g_10002}), s);
  ASSERT_EQ(a.status, 200u);
  ASSERT_EQ(a.code, 0) << a.body;
  ASSERT_EQ(a.entries, 5u);
  const auto& ok = a.groups.at(g_ok);
  EXPECT_EQ(ok.code, 0);
  EXPECT_EQ(ok.error_info, "");
  EXPECT_EQ(ok.type, "Community");
  EXPECT_EQ(ok.name, vip);
  EXPECT_EQ(ok.members, member_total(g_ok, 1000));
  EXPECT_GE(member_total(g_ok, 1000), member_count(g_ok, 1000));
  EXPECT_EQ(a.groups.at(g_public).type, "Public");
  EXPECT_EQ(a.groups.at(g_public).name, "Group 000000");
  for (const auto& gone : {g_ok2, unknown}) {
    const auto& e = a.groups.at(gone);
    EXPECT_EQ(e.code, 10010) << gone;
    EXPECT_EQ(e.error_info, "group does not exist");
    EXPECT_FALSE(e.type || e.name || e.members) << gone;
  }
  EXPECT_EQ(a.groups.at(g_10002).code, 0) << "per-group faults do not apply";
  EXPECT_EQ(a.groups.at(g_10002).name, "Group 0002XX");

  // The filter picks the fields.
  const auto names = info_with(*c, info_body({g_ok}, R"({"GroupBaseInfoFilter":["Name"]})"), s);
  ASSERT_EQ(names.code, 0) << names.body;
  EXPECT_EQ(names.groups.at(g_ok).name, vip);
  EXPECT_FALSE(names.groups.at(g_ok).type.has_value());
  EXPECT_FALSE(names.groups.at(g_ok).members.has_value());
  const auto all = info_with(*c, info_body({g_ok}, ""), s);
  EXPECT_EQ(all.groups.at(g_ok).type, "Community") << "no filter: every field";
  EXPECT_TRUE(all.groups.at(g_ok).members.has_value());
}

TEST_F(EmulatorServer, GroupInfoRefusesMoreThan50Ids) {
  start(base_options(false));
  auto c = connected();
  const auto ids = generate_group_ids(51, 3);
  const auto over = info_with(*c, info_body(ids));
  EXPECT_EQ(over.code, 10004) << over.body;
  EXPECT_EQ(over.entries, 0u);
  EXPECT_EQ(info_with(*c, info_body({})).code, 10004);
  EXPECT_EQ(info_with(*c, R"({"GroupIdList":"x"})").code, 10004);
  EXPECT_EQ(info_with(*c, R"({"GroupIdList":[1,2]})").code, 10004);
  EXPECT_EQ(info_with(*c, info_body({g_ok}, R"({"GroupBaseInfoFilter":"Name"})")).code, 10004);
  const auto fifty = info_with(*c, info_body(std::vector<std::string>(ids.begin(), ids.begin() + 50)));
  EXPECT_EQ(fifty.code, 0);
  EXPECT_EQ(fifty.entries, 50u);
  EXPECT_EQ(fifty.groups.begin()->second.code, 10010) << "generated IDs are not known groups";
  const auto s = server_->stats();
  EXPECT_EQ(s.info_requests, 6u);
  EXPECT_EQ(s.apps.at(app1).info_calls, 6u);
  EXPECT_EQ(s.apps.at(app1).info_max_ids, 51u);
  EXPECT_EQ(s.apps.at(app1).requests, 0u);
}

TEST_F(EmulatorServer, GroupInfoIsLimitedTo200CallsPerSecond) {
  start(base_options(false));
  ASSERT_TRUE(server_->set_qps(app1, 1));  // get_online_member_num's cap does not apply
  auto c = connected();
  const std::string s1 = sig();
  const std::string body = info_body({g_ok, g_public});
  std::string batch;
  constexpr int n = 260;
  for (int i = 0; i < n; ++i) {
    std::ostringstream os;
    os << command(gw_test::target_at(info_path, app1, admin, s1, static_cast<std::uint32_t>(i)), body);
    batch += os.str();
  }
  ASSERT_FALSE(c->write_raw(batch));
  int ok = 0, limited = 0;
  for (int i = 0; i < n; ++i) {
    Response res;
    ASSERT_FALSE(c->read(res));
    const auto code = parse_info(res).code;
    ok += code == 0;
    limited += code == 60007;
  }
  EXPECT_EQ(ok + limited, n);
  EXPECT_GE(ok, 200);
  EXPECT_GE(limited, 1);
  const auto s = server_->stats();
  EXPECT_GE(s.apps.at(app1).info_max_window, 201u);
  EXPECT_EQ(s.apps.at(app1).info_calls, static_cast<std::uint64_t>(n));
  EXPECT_EQ(s.apps.at(app1).info_max_ids, 2u);
  EXPECT_EQ(s.apps.at(app1).requests, 0u);
}

TEST_F(EmulatorServer, ListFaultFailsTheAskedPage) {
  auto o = base_options(false);
  add_apps(o, 3);
  start(o);
  auto c = connected();
  EXPECT_EQ(control(*c, "/_emulator/list-fault?page=0&fault=10002"), 400u);
  EXPECT_EQ(control(*c, "/_emulator/list-fault?page=2&fault=explode"), 400u);
  EXPECT_EQ(control(*c, "/_emulator/list-fault?page=2&fault=10002&times=-1"), 400u);
  EXPECT_EQ(control(*c, "/_emulator/list-fault?page=2&fault=10002"), 200u);

  const auto p1 = list(*c, 3, 0);
  ASSERT_EQ(p1.code, 0);
  std::this_thread::sleep_for(1050ms);
  EXPECT_EQ(list(*c, 3, p1.next).code, 10002) << "page 2 fails";
  std::this_thread::sleep_for(1050ms);
  const auto p2 = list(*c, 3, p1.next);
  ASSERT_EQ(p2.code, 0) << "once";
  EXPECT_EQ(p2.ids, (std::vector<std::string>{g_502, g_reset, g_stall}));
  std::this_thread::sleep_for(1050ms);
  const auto p3 = list(*c, 3, p2.next);
  EXPECT_EQ(p3.code, 0);
  EXPECT_EQ(p3.ids.size(), 2u);
  EXPECT_EQ(p3.next, 0u);

  // times=0: until cleared, for every app; other apps have their own windows.
  server_->set_list_fault(1, Fault::http502, 0);
  EXPECT_EQ(list(*c, 3, 0, 1400000101).status, 502u);
  EXPECT_EQ(list(*c, 3, 0, 1400000102).status, 502u);
  EXPECT_EQ(control(*c, "/_emulator/list-fault?page=1&fault=none"), 200u);
  EXPECT_EQ(list(*c, 3, 0, 1400000103).code, 0);
  EXPECT_EQ(server_->stats().events.at("http_502"), 2u);
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
