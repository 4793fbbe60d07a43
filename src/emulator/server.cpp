// The emulator's server: the one HTTP server (http::Server) over one
// io_context, one coroutine per connection, requests answered one after
// another (so pipelined requests are answered in order).
//
// Three commands: get_online_member_num (the one groupwatch polls) and the
// discovery commands get_appid_group_list and get_group_info. The checks run
// in the vendor's order: transport, identity, rate, body; the rows down to
// 60010 are the same for all three.
// ErrorCodes chosen where the vendor's documentation leaves a choice:
//
//   code   | when
//   -------+-------------------------------------------------------------------
//   HTTP 404 | a path other than the commands (or an unknown /_emulator/ path)
//   HTTP 405 | a command with a method other than POST
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
//
// get_appid_group_list, after the identity checks:
//   60007  | over 1 call per second for the app (its own window, counted too)
//   10004  | body not a JSON object, Limit not an integer in 1..10000, Next
//          | not an unsigned integer or non-zero below list_cursor_base
//   fault  | the list fault set for the page asked for (set_list_fault)
//   0      | TotalCount, GroupIdList, Next (0 when the listing is complete)
// get_group_info, after the identity checks:
//   60007  | over 200 calls per second for the app (its own window)
//   10004  | body not a JSON object, GroupIdList not an array of 1..50 strings
//   0      | GroupInfo: per group ErrorCode 0 with Type/Name/MemberNum (as
//          | ResponseFilter.GroupBaseInfoFilter asks; all three without it),
//          | or 10010 for an unknown or dissolved group
// Neither takes per-group faults or the fault rates: those stand in for
// get_online_member_num answers only.
#include <fmt/format.h>
#include <simdjson.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <algorithm>
#include <array>
#include <deque>
#include <fstream>
#include <limits>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <stdexcept>
#include <unordered_map>

#include "emulator/handler.hpp"
#include "groupwatch/emulator/server.hpp"
#include "groupwatch/http/server.hpp"
#include "groupwatch/tencent/request.hpp"
#include "groupwatch/tencent/usersig.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/names.hpp"
#include "groupwatch/util/text.hpp"
#include "groupwatch/util/url.hpp"

namespace groupwatch::emulator {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
namespace web = groupwatch::http;  // the one HTTP server
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

constexpr std::string_view list_path = "/v4/group_open_http_svc/get_appid_group_list";
constexpr std::string_view info_path = "/v4/group_open_http_svc/get_group_info";

/// Which command a request was for (none: a 404, 400 or 413).
enum class Cmd : std::uint8_t { none, online, list, info };

// Cmd::none is logged as "cmd":null, never by this name.
constexpr std::array<std::string_view, 4> commands{"", "online", "list", "info"};
static_assert(util::names_each(commands, Cmd::info));

/// What a command request gets.
struct Outcome {
  enum class Kind : std::uint8_t { json, http_error, html502, reset, stall, malformed };
  Kind kind = Kind::json;
  unsigned status = 200;
  std::int64_t code = 0;
  std::string_view info;  // ErrorInfo, or the event name for non-JSON kinds
  std::optional<std::uint64_t> count;
  std::string body;  // a discovery command's whole OK answer
  bool close = false;
  std::chrono::milliseconds delay{0};
};

using Params = std::map<std::string, std::string, std::less<>>;

const std::string* param_of(const Params& params, std::string_view key) {
  auto it = params.find(key);
  return it == params.end() ? nullptr : &it->second;
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
      auto decoded = percent_decode(value);
      *has = decoded.has_value();
      if (!*has) bad_encoding = true;
      *dst = std::move(decoded).value_or(std::string());
    });
  }
};

struct GroupState {
  GroupType type = GroupType::community;
  Fault fault = Fault::none;
  bool dissolved = false;
  bool listed = false;    // in Impl::listing under `seq`
  std::uint64_t seq = 0;  // creation sequence number, from 1
  std::string name;       // empty: default_group_name
  std::uint64_t requests = 0;
};

/// One command's sliding 1 s window of one app, over the times the calls
/// arrived. Calls on different connections are handled a little out of
/// the order they arrived in: each goes in at its place.
struct Window {
  std::deque<SteadyClock::time_point> times;  // sorted
  std::uint64_t calls = 0;
  std::uint64_t max = 0;
  /// Counts a call that arrived at `at`; returns how many calls the
  /// fullest second that holds it holds.
  std::size_t admit(SteadyClock::time_point at) {
    using std::chrono::seconds;
    ++calls;
    // Of what is kept, only the last second (and a second's slack for calls
    // handled late) can still decide anything.
    const auto newest = times.empty() ? at : std::max(times.back(), at);
    while (!times.empty() && times.front() <= newest - seconds(2)) times.pop_front();
    const It here = times.insert(std::upper_bound(times.begin(), times.end(), at), at);
    // The seconds ending at it and at the calls after it hold it: the
    // fullest of them says whether it went over the cap.
    std::size_t held = 0;
    for (auto it = here; it != times.cend() && *it < at + seconds(1); ++it) held = std::max(held, in_second_to(it));
    max = std::max<std::uint64_t>(max, held);
    return held;
  }
  void reset_stats() {
    calls = 0;
    max = times.empty() ? 0 : in_second_to(std::prev(times.cend()));
  }

 private:
  using It = std::deque<SteadyClock::time_point>::const_iterator;
  // How many calls the second up to the call at `end` holds.
  std::size_t in_second_to(It end) const {
    return static_cast<std::size_t>(
        std::distance(std::upper_bound(times.cbegin(), end, *end - std::chrono::seconds(1)), end) + 1);
  }
};

/// Who sends one app's get_online_member_num calls (by User-Agent: a
/// clustered groupwatch names its instance there): how many calls each
/// source made, and how often a call came from another source than the call
/// before it less than a second after it (two pollers at once).
struct Sources {
  std::map<std::string, std::uint64_t> calls;
  std::string last;
  SteadyClock::time_point last_at{};
  std::uint64_t switches = 0, overlaps = 0;
  void note(std::string_view source, SteadyClock::time_point now) {
    ++calls[std::string(source)];
    if (!last.empty() && last != source) {
      ++switches;
      if (now - last_at < std::chrono::seconds(1)) ++overlaps;
    }
    if (last != source) last = std::string(source);
    last_at = now;
  }
};

struct AppState {
  App app;
  Window online{}, list{}, info{};
  Sources sources{};
  std::uint64_t info_max_ids = 0;
  /// The current listing's cursors (since the last Next=0 call) and the
  /// page a call with that cursor asks for.
  std::unordered_map<std::uint64_t, int> cursor_page{};
};

struct ListFault {
  Fault fault = Fault::none;
  int remaining = 1;  // 0 = until cleared
};

struct CachedSig {
  std::uint64_t sdkappid = 0;
  std::string identifier;
  std::int64_t valid_until = 0;  // unix seconds
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::invalid_argument("cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
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
  std::unique_ptr<web::Server> server;  // made by start(); used on the io thread after that
  bool stopped = false;
  QueryValues scratch;  // io thread only: reused by every request

  // Everything below is shared with other threads (stats, controls): mu.
  mutable std::mutex mu;
  std::unordered_map<std::uint64_t, AppState> apps;
  StringMap<GroupState> groups;
  std::map<std::uint64_t, std::string> listing;  // seq -> ID of every listed group
  std::uint64_t next_seq = 1;
  std::map<int, ListFault> list_faults;  // by page
  StringMap<CachedSig> sig_cache;
  FaultRates rates;
  SteadyClock::time_point down_until{};
  std::mt19937_64 rng;
  Stats st;
  simdjson::dom::parser json;
  std::string json_buf;
  std::ofstream request_log;
  SteadyClock::time_point last_flush{};

  Impl(asio::io_context& io, Options o) : ioc(io), opts(std::move(o)), rng(opts.seed) {
    if (opts.apps.empty()) throw std::invalid_argument("no apps configured");
    if (!opts.clock) opts.clock = [] { return std::chrono::system_clock::now(); };
    if (opts.refresh.count() <= 0) throw std::invalid_argument("refresh must be positive");
    for (const auto& a : opts.apps) {
      if (!apps.emplace(a.sdkappid, AppState{.app = a}).second) {
        throw std::invalid_argument(fmt::format("sdkappid {} configured twice", a.sdkappid));
      }
      log::add_secret(a.secret_key);
    }
    for (const auto& g : opts.groups) {
      auto& s = groups[g.id];
      s.type = g.type;
      s.fault = g.fault;
      s.name = g.name;
      if (!s.listed) add_to_listing(g.id, s);
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

  void write_log(std::uint64_t conn, std::optional<std::uint64_t> sdkappid, std::string_view group, const Outcome& o,
                 Cmd cmd) {
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
    // Last, so readers that expect the older fields in their order still do.
    if (cmd == Cmd::none) {
      line += R"(,"cmd":null)";
    } else {
      fmt::format_to(std::back_inserter(line), R"(,"cmd":"{}")", util::name_of(commands, cmd, ""));
    }
    line += "}\n";
    request_log << line;
    const auto now = SteadyClock::now();
    if (now - last_flush > std::chrono::seconds(1)) {
      request_log.flush();
      last_flush = now;
    }
  }

  Outcome finish(Outcome o, std::uint64_t conn, std::optional<std::uint64_t> sdkappid, std::string_view group,
                 Cmd cmd = Cmd::none) {
    switch (o.kind) {
      case Outcome::Kind::json:
        ++st.codes[o.code];
        break;
      default:
        count_event(o.info);
        break;
    }
    write_log(conn, sdkappid, group, o, cmd);
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

  // ---- the commands ----

  /// One command call that passed the identity checks.
  struct Call {
    std::uint64_t conn = 0;
    std::uint64_t sdkappid = 0;
    Cmd cmd = Cmd::online;
    AppState* app = nullptr;
    std::chrono::milliseconds delay{0};
  };

  Outcome done(const Call& c, Outcome o, std::string_view group = {}) {
    o.delay = c.delay;
    return finish(std::move(o), c.conn, c.sdkappid, group, c.cmd);
  }

  Outcome handle_command(Cmd cmd, const Request& req, std::string_view query, std::uint64_t conn, QueryValues& q) {
    std::lock_guard lock(mu);
    ++(cmd == Cmd::online ? st.requests : cmd == Cmd::list ? st.list_requests : st.info_requests);
    Call call{.conn = conn, .cmd = cmd};
    std::optional<std::uint64_t> sdkappid;
    if (auto err = check_caller(req, query, q, sdkappid, call.app)) {
      return finish(std::move(*err), conn, sdkappid, {}, cmd);
    }
    call.sdkappid = *sdkappid;

    // Rate: every call that got this far counts in its command's window.
    AppState& app = *call.app;
    Window& window = cmd == Cmd::online ? app.online : cmd == Cmd::list ? app.list : app.info;
    const std::uint32_t cap = cmd == Cmd::online ? app.app.qps
                              : cmd == Cmd::list ? list_calls_per_second
                                                 : info_calls_per_second;
    // The vendor counts a call when it arrives, not when a thread of
    // theirs gets round to it.
    const auto now = server ? server->request_arrived() : SteadyClock::now();
    const std::size_t in_window = window.admit(now);
    if (cmd == Cmd::online) {
      auto ua = req[http::field::user_agent];
      app.sources.note(std::string_view(ua.data(), ua.size()), now);
    }
    call.delay = draw_latency();
    if (in_window > cap) return done(call, fail(60007, "API call frequency over the limit"));
    switch (cmd) {
      case Cmd::list:
        return list_groups(call, req.body());
      case Cmd::info:
        return group_info(call, req.body());
      default:
        return online_member_num(call, req.body());
    }
  }

  /// Transport, query parameters and identity, the same for every command:
  /// the failure, or nullopt with `app` set.
  std::optional<Outcome> check_caller(const Request& req, std::string_view query, QueryValues& q,
                                      std::optional<std::uint64_t>& sdkappid, AppState*& app) {
    if (SteadyClock::now() < down_until) return special(Outcome::Kind::reset, "down");
    if (req.method() != http::verb::post) return http_error(405, "http_405");

    // Query parameters.
    q.parse(query);
    sdkappid = q.has_sdkappid ? parse_number<std::uint64_t>(q.sdkappid) : std::nullopt;
    if (!sdkappid) return fail(60012, "sdkappid missing or invalid");
    if (!q.has_identifier || q.identifier.empty()) return fail(60004, "identifier missing");
    if (!q.has_usersig || q.usersig.empty()) return fail(60004, "usersig missing");
    if (!q.has_random || !parse_number<std::uint32_t>(q.random)) {
      return fail(10004, "random missing or not in 0..4294967295");
    }
    if (!q.has_contenttype || q.contenttype != "json") return fail(10004, "contenttype must be json");

    // Identity.
    auto app_it = apps.find(*sdkappid);
    if (app_it == apps.end()) return fail(70016, "sdkappid not found, no key for it");
    if (auto sig_err = check_usersig(app_it->second.app, q); sig_err.code != 0) return sig_err;
    if (q.identifier != app_it->second.app.admin) return fail(60010, "only an App Administrator may call this API");
    app = &app_it->second;
    return std::nullopt;
  }

  /// Parses `body` with the reused parser; false unless it is a JSON object.
  /// What `obj` refers to lives until the next parse.
  bool parse_object(std::string_view body, simdjson::dom::object& obj) {
    if (json_buf.capacity() < body.size() + simdjson::SIMDJSON_PADDING) {
      json_buf.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    }
    json_buf.assign(body);
    simdjson::dom::element doc;
    return !json.parse(json_buf.data(), json_buf.size(), false).get(doc) && !doc.get_object().get(obj);
  }

  std::int64_t cycle() const { return now_unix_ms() / opts.refresh.count(); }

  /// A fault drawn from the rates (Fault::none for most requests).
  Fault draw_fault() {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    double acc = 0;
    for (auto [rate, f] : {std::pair{rates.e10002, Fault::e10002}, std::pair{rates.http502, Fault::http502},
                           std::pair{rates.reset, Fault::reset}, std::pair{rates.stall, Fault::stall},
                           std::pair{rates.malformed, Fault::malformed}}) {
      acc += rate;
      if (u < acc) return f;
    }
    return Fault::none;
  }

  static std::optional<Outcome> fault_outcome(Fault f) {
    switch (f) {
      case Fault::none:
        break;
      case Fault::e10002:
        return fail(10002, "internal server error, please retry");
      case Fault::http502:
        return special(Outcome::Kind::html502, "http_502");
      case Fault::reset:
        return special(Outcome::Kind::reset, "reset");
      case Fault::stall:
        return special(Outcome::Kind::stall, "stall");
      case Fault::malformed:
        return special(Outcome::Kind::malformed, "malformed");
      case Fault::e10010:
        return fail(10010, "group does not exist or has been dissolved");
    }
    return std::nullopt;
  }

  // get_online_member_num
  Outcome online_member_num(const Call& call, std::string_view body) {
    std::string_view group_id;
    simdjson::dom::object obj;
    if (!parse_object(body, obj) || obj["GroupId"].get_string().get(group_id)) {
      return done(call, fail(10004, "body must be a JSON object with a string GroupId"));
    }
    if (!well_formed_group_id(group_id)) return done(call, fail(10015, "invalid GroupId"), group_id);

    auto git = groups.find(group_id);
    if (git == groups.end() && opts.accept_any_group) git = groups.emplace(std::string(group_id), GroupState{}).first;
    if (git != groups.end()) ++git->second.requests;

    // Faults: the group's own first, then the rates.
    const Fault own = git != groups.end() ? git->second.fault : Fault::none;
    if (auto f = fault_outcome(own != Fault::none ? own : draw_fault())) return done(call, std::move(*f), group_id);
    if (git == groups.end() || git->second.dissolved) {
      return done(call, fail(10010, "group does not exist or has been dissolved"), group_id);
    }
    if (git->second.type != GroupType::community) {
      return done(call, fail(10007, "operation not permitted: not a Community group"), group_id);
    }
    Outcome ok;
    ok.count = member_count(group_id, cycle());
    return done(call, std::move(ok), group_id);
  }

  // get_appid_group_list
  Outcome list_groups(const Call& call, std::string_view body) {
    simdjson::dom::object obj;
    std::uint64_t limit = 0;
    std::uint64_t next = 0;
    if (!parse_object(body, obj) || obj["Limit"].get_uint64().get(limit) || limit < 1 || limit > list_max_limit) {
      return done(call, fail(10004, "Limit must be an integer in 1..10000"));
    }
    const auto next_field = obj["Next"];
    if (next_field.error() != simdjson::NO_SUCH_FIELD &&
        (next_field.get_uint64().get(next) || (next != 0 && next < list_cursor_base))) {
      return done(call, fail(10004, "Next must be 0 or a cursor from an earlier answer"));
    }
    AppState& app = *call.app;
    int page = 0;
    if (next == 0) {
      app.cursor_page.clear();
      page = 1;
    } else if (auto it = app.cursor_page.find(next); it != app.cursor_page.end()) {
      page = it->second;
    }
    if (auto f = take_list_fault(page)) return done(call, std::move(*f));

    Outcome ok;
    const std::uint64_t cursor = list_page(next, limit, ok.body);
    if (cursor != 0 && page > 0) {
      if (app.cursor_page.size() >= 1'000'000) app.cursor_page.clear();
      app.cursor_page[cursor] = page + 1;
    }
    return done(call, std::move(ok));
  }

  /// Writes the OK answer with up to `limit` listed groups after cursor
  /// `next` into `b`; returns the answer's Next.
  std::uint64_t list_page(std::uint64_t next, std::uint64_t limit, std::string& b) const {
    auto it = next == 0 ? listing.begin() : listing.upper_bound(next - list_cursor_base);
    b.reserve(128 + std::min<std::uint64_t>(limit, listing.size()) * 48);
    fmt::format_to(std::back_inserter(b),
                   R"({{"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","TotalCount":{},"GroupIdList":[)",
                   listing.size());
    std::uint64_t last = 0;
    for (std::uint64_t k = 0; k < limit && it != listing.end(); ++k, ++it) {
      b += k == 0 ? R"({"GroupId":)" : R"(,{"GroupId":)";
      append_json_string(b, it->second);
      b += '}';
      last = it->first;
    }
    const std::uint64_t cursor = it == listing.end() ? 0 : list_cursor_base + last;
    fmt::format_to(std::back_inserter(b), R"(],"Next":{}}})", cursor);
    return cursor;
  }

  /// The list fault set for `page`, used up once.
  std::optional<Outcome> take_list_fault(int page) {
    auto it = list_faults.find(page);
    if (it == list_faults.end()) return std::nullopt;
    const Fault f = it->second.fault;
    if (it->second.remaining > 0 && --it->second.remaining == 0) list_faults.erase(it);
    return fault_outcome(f);
  }

  // get_group_info
  struct InfoFields {
    bool type = true;
    bool name = true;
    bool member_num = true;
  };

  Outcome group_info(const Call& call, std::string_view body) {
    simdjson::dom::object obj;
    simdjson::dom::array ids;
    if (!parse_object(body, obj) || obj["GroupIdList"].get_array().get(ids)) {
      return done(call, fail(10004, "body must be a JSON object with a GroupIdList array"));
    }
    const std::size_t n = ids.size();
    call.app->info_max_ids = std::max<std::uint64_t>(call.app->info_max_ids, n);
    if (n == 0 || n > info_max_group_ids) return done(call, fail(10004, "GroupIdList must hold 1..50 group IDs"));
    InfoFields fields;
    if (!parse_info_filter(obj, fields)) {
      return done(call, fail(10004, "ResponseFilter.GroupBaseInfoFilter must be an array of strings"));
    }
    Outcome ok;
    ok.body.reserve(64 + n * 128);
    ok.body = R"({"ActionStatus":"OK","ErrorCode":0,"ErrorInfo":"","GroupInfo":[)";
    const std::int64_t c = cycle();
    bool first = true;
    for (auto e : ids) {
      std::string_view id;
      if (e.get_string().get(id)) return done(call, fail(10004, "GroupIdList must hold strings"));
      if (!first) ok.body += ',';
      first = false;
      append_group_info(ok.body, id, fields, c);
    }
    ok.body += "]}";
    return done(call, std::move(ok));
  }

  /// ResponseFilter.GroupBaseInfoFilter: which of Type, Name, MemberNum to
  /// give (all when there is no filter; other names are ignored).
  static bool parse_info_filter(const simdjson::dom::object& obj, InfoFields& f) {
    const auto filter = obj["ResponseFilter"];
    if (filter.error() == simdjson::NO_SUCH_FIELD) return true;
    simdjson::dom::object filter_obj;
    if (filter.get_object().get(filter_obj)) return false;
    const auto base = filter_obj["GroupBaseInfoFilter"];
    if (base.error() == simdjson::NO_SUCH_FIELD) return true;
    simdjson::dom::array names;
    if (base.get_array().get(names)) return false;
    f = InfoFields{false, false, false};
    for (auto e : names) {
      std::string_view name;
      if (e.get_string().get(name)) return false;
      f.type = f.type || name == "Type";
      f.name = f.name || name == "Name";
      f.member_num = f.member_num || name == "MemberNum";
    }
    return true;
  }

  /// One GroupInfo entry. A group exists as it does for get_online_member_num
  /// (per-group faults aside).
  void append_group_info(std::string& b, std::string_view id, const InfoFields& f, std::int64_t c) const {
    b += R"({"GroupId":)";
    append_json_string(b, id);
    const auto it = groups.find(id);
    const bool found = it != groups.end();
    const bool exists = found ? !it->second.dissolved : opts.accept_any_group && well_formed_group_id(id);
    if (!exists) {
      b += R"(,"ErrorCode":10010,"ErrorInfo":"group does not exist"})";
      return;
    }
    b += R"(,"ErrorCode":0,"ErrorInfo":"")";
    if (f.type) {
      fmt::format_to(std::back_inserter(b), R"(,"Type":"{}")",
                     to_string(found ? it->second.type : GroupType::community));
    }
    if (f.name) {
      b += R"(,"Name":)";
      append_json_string(b, found && !it->second.name.empty() ? it->second.name : default_group_name(id));
    }
    if (f.member_num) fmt::format_to(std::back_inserter(b), R"(,"MemberNum":{})", member_total(id, c));
    b += '}';
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

  /// A control request's answer when it is not {"ok":true}.
  struct ControlError {
    unsigned status = 400;
    std::string message;
  };
  using ControlResult = std::optional<ControlError>;

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
    auto error = [&](const ControlError& e) {
      std::string b = R"({"error":)";
      append_json_string(b, e.message);
      b += '}';
      reply(e.status, std::move(b));
    };
    Params params;
    bool encoding_ok = true;
    for_each_param(query, [&](std::string_view k, std::string_view v) {
      auto d = percent_decode(v);
      if (!d) encoding_ok = false;
      params[std::string(k)] = std::move(d).value_or(std::string());
    });
    if (!encoding_ok) return error({400, "bad percent-encoding"});
    const std::string_view name = path.substr(std::string_view("/_emulator/").size());
    if (name == "stats") {
      const auto* g = param_of(params, "groups");
      return reply(200, to_json(stats(g != nullptr && *g != "0")));
    }
    static constexpr std::array<std::string_view, 7> posts = {"dissolve", "qps",    "reset-stats", "fault",
                                                              "down",     "create", "list-fault"};
    if (std::find(posts.begin(), posts.end(), name) == posts.end()) {
      return reply(404, R"({"error":"unknown control path"})");
    }
    if (req.method() != http::verb::post) return reply(405, R"({"error":"POST only"})");
    if (auto e = control_post(name, params)) return error(*e);
    reply(200, R"({"ok":true})");
  }

  ControlResult control_post(std::string_view name, const Params& params) {
    if (name == "reset-stats") {
      reset_stats();
    } else if (name == "dissolve") {
      const auto* g = param_of(params, "group");
      if (g == nullptr || !dissolve(*g)) return ControlError{400, "group=ID (a well-formed @TGS#_ ID) expected"};
    } else if (name == "qps") {
      const auto* s = param_of(params, "sdkappid");
      const auto* n = param_of(params, "qps");
      const auto sdk = s ? parse_number<std::uint64_t>(*s) : std::nullopt;
      const auto qps = n ? parse_number<std::uint32_t>(*n) : std::nullopt;
      if (!sdk || !qps) return ControlError{400, "sdkappid=S&qps=N expected"};
      if (!set_qps(*sdk, *qps)) return ControlError{400, "unknown sdkappid"};
    } else if (name == "down") {
      const auto* s = param_of(params, "seconds");
      const auto secs = s ? parse_number<std::uint32_t>(*s) : std::nullopt;
      if (!secs) return ControlError{400, "seconds=N expected"};
      std::lock_guard lock(mu);
      down_until = SteadyClock::now() + std::chrono::seconds(*secs);
    } else if (name == "fault") {
      return control_fault(params);
    } else if (name == "create") {
      return control_create(params);
    } else if (name == "list-fault") {
      return control_list_fault(params);
    }
    return std::nullopt;
  }

  ControlResult control_fault(const Params& params) {
    std::lock_guard lock(mu);
    FaultRates r = rates;
    for (auto [key, dst] : {std::pair{"10002", &r.e10002}, std::pair{"502", &r.http502}, std::pair{"reset", &r.reset},
                            std::pair{"stall", &r.stall}, std::pair{"malformed", &r.malformed}}) {
      if (const auto* v = param_of(params, key)) {
        const auto rate = parse_rate(*v);
        if (!rate) return ControlError{400, fmt::format("{} must be a rate in 0..1", key)};
        *dst = *rate;
      }
    }
    if (const auto* g = param_of(params, "group")) {
      const auto* f = param_of(params, "fault");
      const auto fault = f ? parse_fault(*f) : std::nullopt;
      if (!fault || !well_formed_group_id(*g)) {
        return ControlError{400, "group=ID&fault=none|10002|502|reset|stall|malformed|10010"};
      }
      set_group_fault_locked(*g, *fault);
    }
    if (const auto* l = param_of(params, "latency")) {
      const auto d = parse_duration(*l);
      if (!d) return ControlError{400, "latency must be a duration"};
      opts.latency = Latency{*d, *d};
    }
    rates = r;
    return std::nullopt;
  }

  ControlResult control_create(const Params& params) {
    const auto* id = param_of(params, "group");
    if (id == nullptr || !well_formed_group_id(*id)) {
      return ControlError{400, "group=ID (a well-formed @TGS#_ ID) expected"};
    }
    Group g;
    g.id = *id;
    if (const auto* t = param_of(params, "type")) {
      const auto type = parse_group_type(*t);
      if (!type) return ControlError{400, "type must be Community, Public, Private, ChatRoom or AVChatRoom"};
      g.type = *type;
    }
    if (const auto* n = param_of(params, "name")) g.name = *n;
    if (create_group(std::move(g)) == Created::exists) return ControlError{409, "the group exists"};
    return std::nullopt;
  }

  ControlResult control_list_fault(const Params& params) {
    const auto* p = param_of(params, "page");
    const auto* f = param_of(params, "fault");
    const auto* t = param_of(params, "times");
    // value_or, not `*`: GCC 12 at -O1 (the TSan build) takes the value of
    // an optional it just checked for uninitialized.
    const int page = p ? parse_number<int>(*p).value_or(0) : 0;
    const auto fault = f ? parse_fault(*f) : std::nullopt;
    const int times = t ? parse_number<int>(*t).value_or(-1) : 1;
    if (page < 1 || !fault || times < 0) {
      return ControlError{400, "page=P (from 1)&fault=none|10002|502|reset|stall|malformed[&times=K] expected"};
    }
    set_list_fault(page, *fault, times);
    return std::nullopt;
  }

  Stats stats(bool with_groups) const {
    std::lock_guard lock(mu);
    Stats s = st;
    s.connections_open = conns_open;
    for (const auto& [id, a] : apps) {
      s.apps[id] = AppStats{.requests = a.online.calls,
                            .max_window = a.online.max,
                            .qps = a.app.qps,
                            .list_calls = a.list.calls,
                            .list_max_window = a.list.max,
                            .info_calls = a.info.calls,
                            .info_max_window = a.info.max,
                            .info_max_ids = a.info_max_ids,
                            .sources = a.sources.calls,
                            .source_switches = a.sources.switches,
                            .source_overlaps = a.sources.overlaps};
    }
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
      a.online.reset_stats();
      a.list.reset_stats();
      a.info.reset_stats();
      a.info_max_ids = 0;
      a.sources = Sources{};
    }
    for (auto& [id, g] : groups) g.requests = 0;
  }

  // ---- groups (mu held where not locked here) ----

  void add_to_listing(const std::string& id, GroupState& s) {
    s.seq = next_seq++;
    s.listed = true;
    listing.emplace(s.seq, id);
  }

  bool dissolve(std::string_view id) {
    if (!well_formed_group_id(id)) return false;
    std::lock_guard lock(mu);
    auto it = groups.find(id);
    if (it == groups.end()) it = groups.emplace(std::string(id), GroupState{}).first;
    GroupState& s = it->second;
    s.dissolved = true;
    if (s.listed) {
      listing.erase(s.seq);
      s.listed = false;
    }
    return true;
  }

  enum class Created : std::uint8_t { ok, bad_id, exists };
  Created create_group(Group g) {
    if (!well_formed_group_id(g.id)) return Created::bad_id;
    std::lock_guard lock(mu);
    auto [it, fresh] = groups.try_emplace(g.id);
    GroupState& s = it->second;
    if (s.listed) return Created::exists;
    s.type = g.type;
    s.name = std::move(g.name);
    if (fresh || g.fault != Fault::none) s.fault = g.fault;
    s.dissolved = false;
    add_to_listing(it->first, s);
    return Created::ok;
  }

  void set_list_fault(int page, Fault f, int times) {
    if (page < 1) return;
    std::lock_guard lock(mu);
    if (f == Fault::none) {
      list_faults.erase(page);
    } else {
      list_faults[page] = ListFault{f, std::max(times, 0)};
    }
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

  /// The connection handlers for the one HTTP server. They hold the
  /// emulator weakly: connections that outlive it end quietly.
  web::ServerHandlers handlers() {
    std::weak_ptr<Impl> weak = shared_from_this();
    web::ServerHandlers h;
    h.opened = [weak](std::uint64_t) {
      auto self = weak.lock();
      if (!self) return false;
      std::lock_guard lock(self->mu);
      ++self->st.connections_accepted;
      ++self->conns_open;
      const bool down = SteadyClock::now() < self->down_until;
      if (down) self->count_event("down");
      return !down;
    };
    h.handshaken = [weak](std::uint64_t) {
      if (auto self = weak.lock()) {
        std::lock_guard lock(self->mu);
        ++self->st.handshakes;
      }
    };
    h.closed = [weak](std::uint64_t) {
      if (auto self = weak.lock()) {
        std::lock_guard lock(self->mu);
        --self->conns_open;
      }
    };
    h.request = [weak](const Request& req, std::uint64_t conn) {
      web::Answer a;
      auto self = weak.lock();
      if (!self) {
        a.then = web::Answer::Then::reset;
        return a;
      }
      const Outcome o = self->respond(req, conn, self->scratch, a.reply);
      a.delay = o.delay;
      if (o.kind == Outcome::Kind::reset) a.then = web::Answer::Then::reset;
      if (o.kind == Outcome::Kind::stall) {
        a.then = web::Answer::Then::stall;
        a.stall = self->opts.stall;
      }
      return a;
    };
    // The emulator answers 413 for a body over the limit and 400 for the
    // rest (a header over the limit too), as the vendor's gateway does.
    h.unreadable = [weak](http::status status, std::uint64_t conn) {
      Response res;
      if (auto self = weak.lock()) self->respond_error(status == http::status::payload_too_large, conn, res);
      return res;
    };
    return h;
  }

  std::uint16_t start() {
    server =
        std::make_unique<web::Server>(ioc, handlers(),
                                      web::ServerOptions{.name = "emulator",
                                                         .max_header_bytes = 16 * 1024,
                                                         .max_body_bytes = opts.body_limit,
                                                         .request_timeout = std::chrono::seconds(10),
                                                         .idle_timeout = opts.idle_timeout,
                                                         .max_connections = std::numeric_limits<std::size_t>::max(),
                                                         .tls = ssl_ctx ? &*ssl_ctx : nullptr,
                                                         .stamp_arrivals = true});
    return server->listen(opts.address, opts.port);
  }

  void stop_now() {
    stopped = true;
    if (server) server->stop();
    std::lock_guard lock(mu);
    if (request_log.is_open()) request_log.flush();
  }

  static void set_json_body(Response& res, Outcome& o) {
    std::string& b = res.body();
    b.clear();
    if (o.code == 0 && !o.body.empty()) {
      b = std::move(o.body);
    } else if (o.code == 0 && o.count) {
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
    const Cmd cmd = path == tencent::command_path ? Cmd::online
                    : path == list_path           ? Cmd::list
                    : path == info_path           ? Cmd::info
                                                  : Cmd::none;
    if (cmd == Cmd::none) {
      std::lock_guard lock(mu);
      finish(http_error(404, "http_404"), conn, {}, {});
      res.result(http::status::not_found);
      res.set(http::field::content_type, "text/plain");
      res.body() = "not found\n";
      return Outcome{};
    }
    Outcome o = handle_command(cmd, req, query, conn, q);
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
  return impl_->server ? impl_->server->port() : 0;
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
bool Server::create_group(Group g) {
  return impl_->create_group(std::move(g)) == Impl::Created::ok;
}
void Server::set_list_fault(int page, Fault fault, int times) {
  impl_->set_list_fault(page, fault, times);
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
