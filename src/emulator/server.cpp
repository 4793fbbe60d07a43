// The emulator's server: Beast over one io_context, one coroutine per
// connection, requests answered one after another (so pipelined requests are
// answered in order).
//
// The checks run in the vendor's order: transport, identity, rate, body.
// ErrorCodes chosen where the vendor's documentation leaves a choice:
//
//   code   | when
//   -------+-------------------------------------------------------------------
//   HTTP 404 | a path other than the command (or an unknown /_emulator/ path)
//   HTTP 405 | the command with a method other than POST
//   HTTP 413 | a body over Options::body_limit (the connection is closed)
//   HTTP 400 | an unparsable HTTP request (the connection is closed)
//   60012  | sdkappid missing or not a number
//   60004  | identifier or usersig missing or empty
//   10004  | random missing or outside 0..4294967295, contenttype not "json"
//   70016  | unknown SDKAppID (no key for it)
//   70003  | UserSig not decodable (base64, zlib) or its HMAC does not match
//   70005  | UserSig JSON has wrong fields or TLS.ver is not 2.0
//   70009  | the SDKAppID inside the UserSig is not the requested one
//   70013  | the identifier inside the UserSig is not the requested one
//   70001  | UserSig expired
//   60010  | identifier is not the app's administrator
//   60007  | over the app's QPS cap in the sliding 1 s window (counted too)
//   10004  | body not JSON, not an object, or no string GroupId
//   10015  | GroupId not of the "@TGS#_" Community form
//   10002  | fault (per group or by rate)
//   10010  | group unknown or dissolved
//   10007  | group exists but is not a Community group
//   0      | OK with OnlineMemberNum
#include <fmt/format.h>
#include <simdjson.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <charconv>
#include <deque>
#include <fstream>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "emulator/handler.hpp"
#include "groupwatch/emulator/server.hpp"
#include "groupwatch/tencent/request.hpp"
#include "groupwatch/tencent/usersig.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::emulator {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using asio::awaitable;
using asio::use_awaitable;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);
using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using SteadyClock = std::chrono::steady_clock;

namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

/// What a command request gets.
struct Outcome {
  enum class Kind : std::uint8_t { json, http_error, html502, reset, stall, malformed };
  Kind kind = Kind::json;
  unsigned status = 200;
  std::int64_t code = 0;
  std::string_view info;  // ErrorInfo, or the event name for non-JSON kinds
  std::optional<std::uint64_t> count;
  bool close = false;
  std::chrono::milliseconds delay{0};
};

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out += in[i];
      continue;
    }
    if (i + 2 >= in.size()) return false;
    unsigned v = 0;
    const auto [p, ec] = std::from_chars(in.data() + i + 1, in.data() + i + 3, v, 16);
    if (ec != std::errc() || p != in.data() + i + 3) return false;
    out += static_cast<char>(v);
    i += 2;
  }
  return true;
}

template <class F>
void for_each_param(std::string_view query, F&& f) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (pair.empty()) continue;
    const auto eq = pair.find('=');
    f(pair.substr(0, eq), eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
  }
}

template <class T>
std::optional<T> parse_uint(std::string_view s) {
  T v{};
  if (s.empty()) return std::nullopt;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::optional<double> parse_rate(std::string_view s) {
  double v = 0;
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || !(v >= 0.0 && v <= 1.0)) return std::nullopt;
  return v;
}

/// The five query parameters, decoded into buffers a connection reuses.
struct QueryValues {
  std::string sdkappid, identifier, usersig, random, contenttype;
  bool has_sdkappid = false, has_identifier = false, has_usersig = false, has_random = false, has_contenttype = false;
  bool bad_encoding = false;
  void parse(std::string_view query) {
    has_sdkappid = has_identifier = has_usersig = has_random = has_contenttype = bad_encoding = false;
    for_each_param(query, [&](std::string_view key, std::string_view value) {
      std::string* dst = nullptr;
      bool* has = nullptr;
      if (key == "sdkappid") {
        dst = &sdkappid, has = &has_sdkappid;
      } else if (key == "identifier") {
        dst = &identifier, has = &has_identifier;
      } else if (key == "usersig") {
        dst = &usersig, has = &has_usersig;
      } else if (key == "random") {
        dst = &random, has = &has_random;
      } else if (key == "contenttype") {
        dst = &contenttype, has = &has_contenttype;
      } else {
        return;  // the vendor ignores what it does not know
      }
      *has = percent_decode(value, *dst);
      if (!*has) bad_encoding = true;
    });
  }
};

struct GroupState {
  GroupType type = GroupType::community;
  Fault fault = Fault::none;
  bool dissolved = false;
  std::uint64_t requests = 0;
};

struct AppState {
  App app;
  std::deque<SteadyClock::time_point> window;
  std::uint64_t requests = 0;
  std::uint64_t max_window = 0;
};

struct CachedSig {
  std::uint64_t sdkappid = 0;
  std::string identifier;
  std::int64_t valid_until = 0;  // unix seconds
};

/// One live connection, so stop() can close it and cancel its timer.
struct Conn {
  std::uint64_t id;
  asio::steady_timer timer;
  std::function<void()> close;
  Conn(std::uint64_t i, const asio::any_io_executor& ex) : id(i), timer(ex) {}
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::error("emulator.task_failed", "a connection task ended with an exception", {{"error", ex.what()}});
  }
}

constexpr std::string_view html_502 =
    "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad "
    "Gateway</h1></center>\r\n<hr><center>stgw</center>\r\n</body>\r\n</html>\r\n";

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Server::Impl> {
  asio::io_context& ioc;
  Options opts;
  std::optional<ssl::context> ssl_ctx;
  std::string cert_pem;
  tcp::acceptor acceptor;
  std::uint16_t bound_port = 0;
  bool stopped = false;
  std::uint64_t next_conn_id = 1;
  std::unordered_map<std::uint64_t, Conn*> conns;  // io thread only

  // Everything below is shared with other threads (stats, controls): mu.
  mutable std::mutex mu;
  std::unordered_map<std::uint64_t, AppState> apps;
  StringMap<GroupState> groups;
  StringMap<CachedSig> sig_cache;
  FaultRates rates;
  SteadyClock::time_point down_until{};
  std::mt19937_64 rng;
  Stats st;
  simdjson::dom::parser json;
  std::string json_buf;
  std::ofstream request_log;
  SteadyClock::time_point last_flush{};

  Impl(asio::io_context& io, Options o) : ioc(io), opts(std::move(o)), acceptor(io), rng(opts.seed) {
    if (opts.apps.empty()) throw std::invalid_argument("no apps configured");
    if (!opts.clock) opts.clock = [] { return std::chrono::system_clock::now(); };
    if (opts.refresh.count() <= 0) throw std::invalid_argument("refresh must be positive");
    for (const auto& a : opts.apps) {
      if (!apps.emplace(a.sdkappid, AppState{a, {}, 0, 0}).second) {
        throw std::invalid_argument(fmt::format("sdkappid {} configured twice", a.sdkappid));
      }
      log::add_secret(a.secret_key);
    }
    for (const auto& g : opts.groups) {
      auto& s = groups[g.id];
      s.type = g.type;
      s.fault = g.fault;
    }
    rates = opts.faults;
    if (opts.tls) {
      std::string key_pem;
      if (!opts.tls_cert_file.empty() || !opts.tls_key_file.empty()) {
        if (opts.tls_cert_file.empty() || opts.tls_key_file.empty()) {
          throw std::invalid_argument("--tls-cert and --tls-key go together");
        }
        cert_pem = read_file(opts.tls_cert_file);
        key_pem = read_file(opts.tls_key_file);
      } else {
        auto pair = generate_self_signed();
        cert_pem = std::move(pair.cert_pem);
        key_pem = std::move(pair.key_pem);
      }
      ssl_ctx.emplace(ssl::context::tls_server);
      ssl_ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                           ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
      beast::error_code ec;
      ssl_ctx->use_certificate_chain(asio::buffer(cert_pem), ec);
      if (ec) throw std::invalid_argument("TLS certificate: " + ec.message());
      ssl_ctx->use_private_key(asio::buffer(key_pem), ssl::context::pem, ec);
      if (ec) throw std::invalid_argument("TLS key: " + ec.message());
    }
    if (!opts.request_log_file.empty()) {
      request_log.open(opts.request_log_file, std::ios::app);
      if (!request_log) throw std::invalid_argument("cannot open request log " + opts.request_log_file);
    }
    json_buf.reserve(opts.body_limit + simdjson::SIMDJSON_PADDING);
  }

  std::int64_t now_unix_ms() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(opts.clock().time_since_epoch()).count();
  }

  // ---- accounting (mu held) ----

  void count_event(std::string_view name) {
    auto it = st.events.find(name);
    if (it == st.events.end()) it = st.events.emplace(std::string(name), 0).first;
    ++it->second;
  }

  void write_log(std::uint64_t conn, std::optional<std::uint64_t> sdkappid, std::string_view group, const Outcome& o) {
    if (!request_log.is_open()) return;
    std::string line;
    line.reserve(160);
    line += R"({"time":")";
    line += format_rfc3339_ms(opts.clock());
    fmt::format_to(std::back_inserter(line), R"(","conn":{},"sdkappid":)", conn);
    if (sdkappid) {
      fmt::format_to(std::back_inserter(line), "{}", *sdkappid);
    } else {
      line += "null";
    }
    line += R"(,"group":)";
    if (group.empty()) {
      line += "null";
    } else {
      append_json_string(line, group);
    }
    fmt::format_to(std::back_inserter(line), R"(,"status":{})", o.kind == Outcome::Kind::json ? 200 : o.status);
    if (o.kind == Outcome::Kind::json) {
      fmt::format_to(std::back_inserter(line), R"(,"code":{})", o.code);
    } else {
      fmt::format_to(std::back_inserter(line), R"(,"event":"{}")", o.info);
    }
    line += "}\n";
    request_log << line;
    const auto now = SteadyClock::now();
    if (now - last_flush > std::chrono::seconds(1)) {
      request_log.flush();
      last_flush = now;
    }
  }

  Outcome finish(Outcome o, std::uint64_t conn, std::optional<std::uint64_t> sdkappid, std::string_view group) {
    switch (o.kind) {
      case Outcome::Kind::json:
        ++st.codes[o.code];
        break;
      default:
        count_event(o.info);
        break;
    }
    write_log(conn, sdkappid, group, o);
    return o;
  }

  std::chrono::milliseconds draw_latency() {
    const auto& l = opts.latency;
    if (l.max <= l.min) return l.min;
    std::uniform_int_distribution<std::int64_t> d(l.min.count(), l.max.count());
    return std::chrono::milliseconds(d(rng));
  }

  static Outcome fail(std::int64_t code, std::string_view info) {
    Outcome o;
    o.code = code;
    o.info = info;
    return o;
  }
  static Outcome http_error(unsigned status, std::string_view event) {
    Outcome o;
    o.kind = Outcome::Kind::http_error;
    o.status = status;
    o.info = event;
    return o;
  }
  static Outcome special(Outcome::Kind k, std::string_view event) {
    Outcome o;
    o.kind = k;
    o.status = k == Outcome::Kind::html502 ? 502 : 200;
    o.info = event;
    return o;
  }

  // ---- the command ----

  Outcome handle_command(const Request& req, std::string_view query, std::uint64_t conn, QueryValues& q) {
    std::lock_guard lock(mu);
    ++st.requests;
    if (SteadyClock::now() < down_until) return finish(special(Outcome::Kind::reset, "down"), conn, {}, {});
    if (req.method() != http::verb::post) return finish(http_error(405, "http_405"), conn, {}, {});

    // Query parameters.
    q.parse(query);
    const auto sdkappid = q.has_sdkappid ? parse_uint<std::uint64_t>(q.sdkappid) : std::nullopt;
    if (!sdkappid) return finish(fail(60012, "sdkappid missing or invalid"), conn, {}, {});
    if (!q.has_identifier || q.identifier.empty()) {
      return finish(fail(60004, "identifier missing"), conn, sdkappid, {});
    }
    if (!q.has_usersig || q.usersig.empty()) return finish(fail(60004, "usersig missing"), conn, sdkappid, {});
    if (!q.has_random || !parse_uint<std::uint32_t>(q.random)) {
      return finish(fail(10004, "random missing or not in 0..4294967295"), conn, sdkappid, {});
    }
    if (!q.has_contenttype || q.contenttype != "json") {
      return finish(fail(10004, "contenttype must be json"), conn, sdkappid, {});
    }

    // Identity.
    auto app_it = apps.find(*sdkappid);
    if (app_it == apps.end()) return finish(fail(70016, "sdkappid not found, no key for it"), conn, sdkappid, {});
    AppState& app = app_it->second;
    if (auto sig_err = check_usersig(app.app, q); sig_err.code != 0) return finish(sig_err, conn, sdkappid, {});
    if (q.identifier != app.app.admin) {
      return finish(fail(60010, "only an App Administrator may call this API"), conn, sdkappid, {});
    }

    // Rate: every request that got this far counts in the window.
    const auto now = SteadyClock::now();
    ++app.requests;
    app.window.push_back(now);
    while (!app.window.empty() && app.window.front() <= now - std::chrono::seconds(1)) app.window.pop_front();
    app.max_window = std::max<std::uint64_t>(app.max_window, app.window.size());
    Outcome out;
    out.delay = draw_latency();
    auto done = [&](Outcome o, std::string_view group) {
      o.delay = out.delay;
      return finish(o, conn, sdkappid, group);
    };
    if (app.window.size() > app.app.qps) return done(fail(60007, "API call frequency over the limit"), {});

    // Body.
    std::string_view group_id;
    {
      const std::string& body = req.body();
      if (json_buf.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
        json_buf.reserve(body.size() + simdjson::SIMDJSON_PADDING);
      }
      json_buf.assign(body);
      simdjson::dom::element doc;
      simdjson::dom::object obj;
      if (json.parse(json_buf.data(), json_buf.size(), false).get(doc) || doc.get_object().get(obj) ||
          obj["GroupId"].get_string().get(group_id)) {
        return done(fail(10004, "body must be a JSON object with a string GroupId"), {});
      }
    }
    if (!well_formed_group_id(group_id)) return done(fail(10015, "invalid GroupId"), group_id);

    auto git = groups.find(group_id);
    if (git == groups.end() && opts.accept_any_group) git = groups.emplace(std::string(group_id), GroupState{}).first;
    if (git != groups.end()) ++git->second.requests;

    // Faults: the group's own first, then the rates.
    Fault fault = git != groups.end() ? git->second.fault : Fault::none;
    if (fault == Fault::none) {
      const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
      double acc = 0;
      for (auto [rate, f] : {std::pair{rates.e10002, Fault::e10002}, std::pair{rates.http502, Fault::http502},
                             std::pair{rates.reset, Fault::reset}, std::pair{rates.stall, Fault::stall},
                             std::pair{rates.malformed, Fault::malformed}}) {
        acc += rate;
        if (u < acc) {
          fault = f;
          break;
        }
      }
    }
    switch (fault) {
      case Fault::none:
        break;
      case Fault::e10002:
        return done(fail(10002, "internal server error, please retry"), group_id);
      case Fault::http502:
        return done(special(Outcome::Kind::html502, "http_502"), group_id);
      case Fault::reset:
        return done(special(Outcome::Kind::reset, "reset"), group_id);
      case Fault::stall:
        return done(special(Outcome::Kind::stall, "stall"), group_id);
      case Fault::malformed:
        return done(special(Outcome::Kind::malformed, "malformed"), group_id);
      case Fault::e10010:
        return done(fail(10010, "group does not exist or has been dissolved"), group_id);
    }
    if (git == groups.end() || git->second.dissolved) {
      return done(fail(10010, "group does not exist or has been dissolved"), group_id);
    }
    if (git->second.type != GroupType::community) {
      return done(fail(10007, "operation not permitted: not a Community group"), group_id);
    }
    Outcome ok;
    ok.count = member_count(group_id, now_unix_ms() / opts.refresh.count());
    return done(ok, group_id);
  }

  /// Verified UserSigs are cached until they expire: decoding and HMAC on
  /// every request would dominate the emulator's cost at benchmark rates.
  Outcome check_usersig(const App& app, const QueryValues& q) {
    const std::int64_t now_s = now_unix_ms() / 1000;
    if (auto it = sig_cache.find(q.usersig); it != sig_cache.end()) {
      const CachedSig& c = it->second;
      if (c.sdkappid == app.sdkappid && c.identifier == q.identifier) {
        if (now_s <= c.valid_until) return Outcome{};
        sig_cache.erase(it);
        return fail(70001, "UserSig expired");
      }
    }
    ++st.usersig_verifications;
    using E = tencent::UserSigError;
    switch (tencent::verify_usersig(q.usersig, app.secret_key, app.sdkappid, q.identifier, now_s)) {
      case E::none:
        break;
      case E::bad_base64:
      case E::bad_zlib:
      case E::bad_signature:
        return fail(70003, "UserSig invalid: signature verification failed");
      case E::bad_json:
      case E::wrong_version:
        return fail(70005, "UserSig invalid: malformed content");
      case E::expired:
        return fail(70001, "UserSig expired");
      case E::wrong_identifier:
        return fail(70013, "identifier does not match the UserSig");
      case E::wrong_sdkappid:
        return fail(70009, "sdkappid does not match the UserSig");
    }
    const auto decoded = tencent::decode_usersig(q.usersig);
    if (sig_cache.size() >= 100'000) sig_cache.clear();
    sig_cache.emplace(q.usersig, CachedSig{app.sdkappid, q.identifier, decoded.sig.time + decoded.sig.expire});
    return Outcome{};
  }

  // ---- the control API ----

  void control(const Request& req, std::string_view path, std::string_view query, Response& res) {
    {
      std::lock_guard lock(mu);
      ++st.control_requests;
    }
    auto reply = [&](unsigned status, std::string body) {
      res.result(status);
      res.set(http::field::content_type, "application/json");
      res.body() = std::move(body);
    };
    auto bad = [&](std::string_view msg) {
      std::string b = R"({"error":)";
      append_json_string(b, msg);
      b += '}';
      reply(400, std::move(b));
    };
    std::map<std::string, std::string, std::less<>> params;
    bool encoding_ok = true;
    for_each_param(query, [&](std::string_view k, std::string_view v) {
      std::string d;
      if (!percent_decode(v, d)) encoding_ok = false;
      params[std::string(k)] = std::move(d);
    });
    if (!encoding_ok) return bad("bad percent-encoding");
    auto param = [&](std::string_view k) -> const std::string* {
      auto it = params.find(k);
      return it == params.end() ? nullptr : &it->second;
    };
    const std::string_view name = path.substr(std::string_view("/_emulator/").size());
    if (name == "stats") {
      const auto* g = param("groups");
      return reply(200, to_json(stats(g != nullptr && *g != "0")));
    }
    if (name != "dissolve" && name != "qps" && name != "reset-stats" && name != "fault" && name != "down") {
      return reply(404, R"({"error":"unknown control path"})");
    }
    if (req.method() != http::verb::post) return reply(405, R"({"error":"POST only"})");
    if (name == "reset-stats") {
      reset_stats();
    } else if (name == "dissolve") {
      const auto* g = param("group");
      if (g == nullptr || !dissolve(*g)) return bad("group=ID (a well-formed @TGS#_ ID) expected");
    } else if (name == "qps") {
      const auto* s = param("sdkappid");
      const auto* n = param("qps");
      const auto sdk = s ? parse_uint<std::uint64_t>(*s) : std::nullopt;
      const auto qps = n ? parse_uint<std::uint32_t>(*n) : std::nullopt;
      if (!sdk || !qps) return bad("sdkappid=S&qps=N expected");
      if (!set_qps(*sdk, *qps)) return bad("unknown sdkappid");
    } else if (name == "down") {
      const auto* s = param("seconds");
      const auto secs = s ? parse_uint<std::uint32_t>(*s) : std::nullopt;
      if (!secs) return bad("seconds=N expected");
      std::lock_guard lock(mu);
      down_until = SteadyClock::now() + std::chrono::seconds(*secs);
    } else if (name == "fault") {
      std::lock_guard lock(mu);
      FaultRates r = rates;
      for (auto [key, dst] : {std::pair{"10002", &r.e10002}, std::pair{"502", &r.http502}, std::pair{"reset", &r.reset},
                              std::pair{"stall", &r.stall}, std::pair{"malformed", &r.malformed}}) {
        if (const auto* v = param(key)) {
          const auto rate = parse_rate(*v);
          if (!rate) return bad(fmt::format("{} must be a rate in 0..1", key));
          *dst = *rate;
        }
      }
      if (const auto* g = param("group")) {
        const auto* f = param("fault");
        const auto fault = f ? parse_fault(*f) : std::nullopt;
        if (!fault || !well_formed_group_id(*g))
          return bad("group=ID&fault=none|10002|502|reset|stall|malformed|10010");
        set_group_fault_locked(*g, *fault);
      }
      if (const auto* l = param("latency")) {
        const auto d = parse_duration(*l);
        if (!d) return bad("latency must be a duration");
        opts.latency = Latency{*d, *d};
      }
      rates = r;
    }
    reply(200, R"({"ok":true})");
  }

  Stats stats(bool with_groups) const {
    std::lock_guard lock(mu);
    Stats s = st;
    s.connections_open = conns_open;
    for (const auto& [id, a] : apps) s.apps[id] = AppStats{a.requests, a.max_window, a.app.qps};
    if (with_groups) {
      for (const auto& [id, g] : groups) {
        if (g.requests > 0) s.groups.emplace(id, g.requests);
      }
    }
    return s;
  }
  std::uint64_t conns_open = 0;  // mu

  void reset_stats() {
    std::lock_guard lock(mu);
    st = Stats{};
    for (auto& [id, a] : apps) {
      a.requests = 0;
      a.max_window = a.window.size();
    }
    for (auto& [id, g] : groups) g.requests = 0;
  }

  bool dissolve(std::string_view id) {
    if (!well_formed_group_id(id)) return false;
    std::lock_guard lock(mu);
    auto it = groups.find(id);
    if (it == groups.end()) it = groups.emplace(std::string(id), GroupState{}).first;
    it->second.dissolved = true;
    return true;
  }

  bool set_qps(std::uint64_t sdkappid, std::uint32_t qps) {
    std::lock_guard lock(mu);
    auto it = apps.find(sdkappid);
    if (it == apps.end()) return false;
    it->second.app.qps = qps;
    return true;
  }

  void set_group_fault_locked(std::string_view id, Fault f) {
    auto it = groups.find(id);
    if (it == groups.end()) {
      // A fault on a group that does not exist keeps it non-existent otherwise.
      GroupState s;
      s.dissolved = !opts.accept_any_group;
      it = groups.emplace(std::string(id), s).first;
    }
    it->second.fault = f;
  }

  // ---- network ----

  std::uint16_t start() {
    beast::error_code ec;
    const auto addr = asio::ip::make_address(opts.address, ec);
    if (ec) throw std::system_error(ec, "listen address " + opts.address);
    const tcp::endpoint ep(addr, opts.port);
    // error_code forms: the message is the OS's ("Address already in use"),
    // not Boost's source location.
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) throw std::system_error(ec);
    bound_port = acceptor.local_endpoint().port();
    asio::co_spawn(ioc, accept_loop(shared_from_this()), log_exception);
    return bound_port;
  }

  void stop_now() {
    stopped = true;
    beast::error_code ec;
    acceptor.close(ec);
    for (auto& [id, c] : conns) {
      c->timer.cancel();
      if (c->close) c->close();
    }
    std::lock_guard lock(mu);
    if (request_log.is_open()) request_log.flush();
  }

  static awaitable<void> accept_loop(std::shared_ptr<Impl> self) {
    for (;;) {
      auto [ec, sock] = co_await self->acceptor.async_accept(use_tuple);
      if (self->stopped || !self->acceptor.is_open()) co_return;
      if (ec) {
        // Out of descriptors and the like: wait a little rather than spin.
        asio::steady_timer t(self->ioc, std::chrono::milliseconds(50));
        co_await t.async_wait(use_tuple);
        continue;
      }
      asio::co_spawn(self->ioc, session(self, std::move(sock)), log_exception);
    }
  }

  static void reset_socket(tcp::socket& s) {
    beast::error_code ec;
    s.set_option(asio::socket_base::linger(true, 0), ec);
    s.close(ec);
  }

  static awaitable<void> session(std::shared_ptr<Impl> self, tcp::socket sock) {
    Conn conn(self->next_conn_id++, sock.get_executor());
    self->conns.emplace(conn.id, &conn);
    bool down = false;
    {
      std::lock_guard lock(self->mu);
      ++self->st.connections_accepted;
      ++self->conns_open;
      down = SteadyClock::now() < self->down_until;
      if (down) self->count_event("down");
    }
    struct Cleanup {
      Impl* impl;
      std::uint64_t id;
      ~Cleanup() {
        impl->conns.erase(id);
        std::lock_guard lock(impl->mu);
        --impl->conns_open;
      }
    } cleanup{self.get(), conn.id};
    if (down) {
      reset_socket(sock);
      co_return;
    }
    beast::error_code ec;
    sock.set_option(tcp::no_delay(true), ec);
    if (self->ssl_ctx) {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(sock), *self->ssl_ctx);
      conn.close = [&stream] { beast::get_lowest_layer(stream).close(); };
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(10));
      auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
      if (hec || self->stopped) co_return;
      {
        std::lock_guard lock(self->mu);
        ++self->st.handshakes;
      }
      co_await serve(self, stream, conn);
    } else {
      beast::tcp_stream stream(std::move(sock));
      conn.close = [&stream] { stream.close(); };
      co_await serve(self, stream, conn);
    }
  }

  static awaitable<void> graceful_close(beast::tcp_stream& s) {
    beast::error_code ec;
    s.socket().shutdown(tcp::socket::shutdown_send, ec);
    co_return;
  }
  static awaitable<void> graceful_close(beast::ssl_stream<beast::tcp_stream>& s) {
    beast::get_lowest_layer(s).expires_after(std::chrono::seconds(5));
    co_await s.async_shutdown(use_tuple);
  }

  /// After an early error answer the client may still be sending: read and
  /// drop it for a moment so closing does not turn into a reset that eats
  /// the answer.
  template <class Stream>
  static awaitable<void> drain(Stream& stream) {
    std::array<char, 4096> scratch;
    std::size_t total = 0;
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
    while (total < 1024 * 1024) {
      auto [ec, n] = co_await stream.async_read_some(asio::buffer(scratch), use_tuple);
      if (ec) break;
      total += n;
    }
  }

  static void set_json_body(Response& res, const Outcome& o) {
    std::string& b = res.body();
    b.clear();
    if (o.code == 0 && o.count) {
      fmt::format_to(std::back_inserter(b),
                     R"({{"ActionStatus":"OK","ErrorInfo":"","ErrorCode":0,"OnlineMemberNum":{}}})", *o.count);
    } else {
      fmt::format_to(std::back_inserter(b), R"({{"ActionStatus":"FAIL","ErrorInfo":"{}","ErrorCode":{}}})", o.info,
                     o.code);
    }
  }

  /// The answer to an unreadable request: 413 for a body over the limit,
  /// else 400. The connection is closed after it.
  void respond_error(bool body_limit, std::uint64_t conn, Response& res) {
    Outcome o = body_limit ? http_error(413, "http_413") : http_error(400, "http_400");
    {
      std::lock_guard lock(mu);
      finish(o, conn, {}, {});
    }
    res.version(11);
    res.set(http::field::server, "groupwatch-emulator");
    res.result(o.status);
    res.set(http::field::content_type, "text/plain");
    res.body() = body_limit ? "request body too large\n" : "bad request\n";
  }

  /// Everything serve() does with one parsed request short of the socket:
  /// fills `res` and returns the command's Outcome (a default one for the
  /// control API and 404s). For reset and stall `res` stays unused; the
  /// caller waits Outcome::delay before answering.
  Outcome respond(const Request& req, std::uint64_t conn, QueryValues& q, Response& res) {
    res.version(11);
    res.set(http::field::server, "groupwatch-emulator");
    const std::string_view target = req.target();
    const auto qm = target.find('?');
    const std::string_view path = target.substr(0, qm);
    const std::string_view query = qm == std::string_view::npos ? std::string_view{} : target.substr(qm + 1);
    if (path.starts_with("/_emulator/")) {
      control(req, path, query, res);
      return Outcome{};
    }
    if (path != tencent::command_path) {
      std::lock_guard lock(mu);
      finish(http_error(404, "http_404"), conn, {}, {});
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain");
      res.body() = "not found\n";
      return Outcome{};
    }
    const Outcome o = handle_command(req, query, conn, q);
    switch (o.kind) {
      case Outcome::Kind::reset:
      case Outcome::Kind::stall:
        break;
      case Outcome::Kind::json:
        res.set(http::field::content_type, "application/json");
        set_json_body(res, o);
        break;
      case Outcome::Kind::malformed:
        res.set(http::field::content_type, "application/json");
        res.body() = R"({"ActionStatus":"OK","ErrorInfo":"","ErrorCo)";
        break;
      case Outcome::Kind::html502:
        res.result(http::status::bad_gateway);
        res.set(http::field::content_type, "text/html");
        res.body() = html_502;
        break;
      case Outcome::Kind::http_error:
        res.result(o.status);
        res.set(http::field::content_type, "text/plain");
        res.body() = o.status == 405 ? "method not allowed\n" : "error\n";
        break;
    }
    return o;
  }

  template <class Stream>
  static awaitable<void> serve(std::shared_ptr<Impl> self, Stream& stream, Conn& conn) {
    beast::flat_buffer buffer;
    QueryValues q;
    const auto& http_category = http::make_error_code(http::error::end_of_stream).category();
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(self->opts.body_limit);
      parser.header_limit(16 * 1024);
      beast::get_lowest_layer(stream).expires_after(self->opts.idle_timeout);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
      if (self->stopped) co_return;
      if (ec == http::error::end_of_stream) {
        co_await graceful_close(stream);
        co_return;
      }
      Response res;
      bool close = false;
      bool early_error = false;
      if (ec == http::error::body_limit || ec.category() == http_category) {
        self->respond_error(ec == http::error::body_limit, conn.id, res);
        close = early_error = true;
      } else if (ec) {
        co_return;  // the peer went away, timed out, or TLS failed
      } else {
        const Request& req = parser.get();
        close = !req.keep_alive();
        const Outcome o = self->respond(req, conn.id, q, res);
        if (o.delay.count() > 0) {
          conn.timer.expires_after(o.delay);
          co_await conn.timer.async_wait(use_tuple);
          if (self->stopped) co_return;
        }
        if (o.kind == Outcome::Kind::reset) {
          reset_socket(beast::get_lowest_layer(stream).socket());
          co_return;
        }
        if (o.kind == Outcome::Kind::stall) {
          conn.timer.expires_after(self->opts.stall);
          co_await conn.timer.async_wait(use_tuple);
          reset_socket(beast::get_lowest_layer(stream).socket());
          co_return;
        }
      }
      res.keep_alive(!close);
      res.prepare_payload();
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(30));
      auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
      if (wec || self->stopped) co_return;
      if (close) {
        if (early_error) co_await drain(stream);
        co_await graceful_close(stream);
        co_return;
      }
    }
  }
};

Server::Server(asio::io_context& ioc, Options options) : impl_(std::make_shared<Impl>(ioc, std::move(options))) {}

Server::~Server() {
  if (!impl_->stopped) impl_->stop_now();
}

std::uint16_t Server::start() {
  return impl_->start();
}

void Server::stop() {
  asio::dispatch(impl_->ioc, [impl = impl_] { impl->stop_now(); });
}

std::uint16_t Server::port() const {
  return impl_->bound_port;
}
std::string Server::ca_pem() const {
  return impl_->cert_pem;
}
Stats Server::stats(bool with_groups) const {
  return impl_->stats(with_groups);
}
void Server::reset_stats() {
  impl_->reset_stats();
}
bool Server::dissolve(std::string_view group_id) {
  return impl_->dissolve(group_id);
}
bool Server::set_qps(std::uint64_t sdkappid, std::uint32_t qps) {
  return impl_->set_qps(sdkappid, qps);
}

void Server::set_faults(const FaultRates& rates) {
  std::lock_guard lock(impl_->mu);
  impl_->rates = rates;
}

void Server::set_group_fault(std::string_view group_id, Fault fault) {
  std::lock_guard lock(impl_->mu);
  impl_->set_group_fault_locked(group_id, fault);
}

void Server::set_down_for(std::chrono::milliseconds d) {
  std::lock_guard lock(impl_->mu);
  impl_->down_until = SteadyClock::now() + d;
}

}  // namespace groupwatch::emulator

// ---- Handler: the same handling without sockets ----

namespace groupwatch::emulator {

namespace {

Handled to_handled(const Outcome& o, Response& res, bool close) {
  Handled h;
  if (o.kind == Outcome::Kind::reset || o.kind == Outcome::Kind::stall) {
    h.action = o.kind == Outcome::Kind::reset ? Handled::Action::reset : Handled::Action::stall;
    h.close = true;
  } else {
    res.keep_alive(!close);
    res.prepare_payload();
    h.status = res.result_int();
    h.content_type = std::string(res[http::field::content_type]);
    h.body = std::move(res.body());
    h.close = close;
  }
  h.delay = o.delay;
  return h;
}

}  // namespace

Handler::Handler(Options options) : ioc_(std::make_unique<asio::io_context>()) {
  options.tls = false;
  impl_ = std::make_shared<Server::Impl>(*ioc_, std::move(options));
}

Handler::~Handler() = default;

Handled Handler::handle(std::string_view method, std::string_view target, std::string_view body, bool keep_alive) {
  Request req;
  req.version(11);
  req.method_string(method);
  req.target(target);
  req.body() = body;
  req.keep_alive(keep_alive);
  QueryValues q;
  Response res;
  const Outcome o = impl_->respond(req, 0, q, res);
  return to_handled(o, res, !keep_alive);
}

std::vector<Handled> Handler::handle_bytes(std::string_view bytes) {
  std::vector<Handled> out;
  QueryValues q;
  while (!bytes.empty()) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(impl_->opts.body_limit);
    parser.header_limit(16 * 1024);
    beast::error_code ec;
    while (!parser.is_done()) {
      const std::size_t n = parser.put(asio::buffer(bytes.data(), bytes.size()), ec);
      bytes.remove_prefix(n);
      if (parser.is_done() || (ec && ec != http::error::need_more)) break;
      ec = {};
      if (n > 0 && !bytes.empty()) continue;
      // Out of bytes: what async_read sees when the peer closes here.
      parser.put_eof(ec);
      if (!ec && !parser.is_done()) ec = http::error::partial_message;
      break;
    }
    Response res;
    if (ec) {
      impl_->respond_error(ec == http::error::body_limit, 0, res);
      out.push_back(to_handled(Outcome{}, res, true));
      break;
    }
    const Request& req = parser.get();
    const bool close = !req.keep_alive();
    const Outcome o = impl_->respond(req, 0, q, res);
    out.push_back(to_handled(o, res, close));
    if (out.back().close) break;
  }
  return out;
}

Stats Handler::stats(bool with_groups) const {
  return impl_->stats(with_groups);
}

}  // namespace groupwatch::emulator
