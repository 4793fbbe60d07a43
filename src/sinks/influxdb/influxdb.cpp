// influxdb: line protocol over HTTP, v1 (/write) or v2 (/api/v2/write), one
// POST per batch (gzip by default) on a kept-alive connection of the one
// HTTP client (http::Pool). A point with
// the same measurement, tags and timestamp replaces the earlier one, so the
// delivery layer's replays are idempotent here.
#include "sinks/influxdb/influxdb.hpp"
#include "groupwatch/util/base64.hpp"
#include "groupwatch/util/url.hpp"

#include <zlib.h>

#include <algorithm>
#include <exception>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/status.hpp>

#include "groupwatch/http/pool.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::sinks::influxdb {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

// InfluxDB's guidance is 5000 points a request; bigger batches are split.
constexpr std::size_t kPointsPerRequest = 5000;
constexpr std::size_t kBodyExcerpt = 200;

// Appends `s` with each byte in `special` preceded by a backslash, control
// characters as spaces (line protocol cannot carry them in keys and tags) and
// invalid UTF-8 as U+FFFD. In a tag a trailing backslash would escape the
// separator after it, and there is no escape for it: it is dropped.
void append_escaped(std::string& out, std::string_view s, std::string_view special, bool tag) {
  if (tag) {
    while (!s.empty() && s.back() == '\\') s.remove_suffix(1);
  }
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_sequence_length(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
      continue;
    }
    char c = s[i];
    if (n == 1 && tag && static_cast<unsigned char>(c) < 0x20) c = ' ';
    if (n == 1 && special.find(c) != std::string_view::npos) out += '\\';
    out.append(n == 1 ? std::string_view(&c, 1) : s.substr(i, n));
    i += n;
  }
}

void append_tag(std::string& out, std::string_view key, std::string_view value) {
  std::string k, v;
  append_escaped(k, key, ", =", true);
  append_escaped(v, value, ", =", true);
  if (k.empty() || v.empty()) return;  // an empty tag value is invalid; InfluxDB treats it as absent anyway
  out += ',';
  out += k;
  out += '=';
  out += v;
}

std::string excerpt(std::string_view body) {
  std::string out;
  for (char c : body.substr(0, kBodyExcerpt)) out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
  while (!out.empty() && out.back() == ' ') out.pop_back();
  if (body.size() > kBodyExcerpt) out += "...";
  return out;
}

// The one HTTP client (http::Pool, one connection) driven from the sink's
// worker thread: each request runs on a private io_context until it ends,
// within the pool's timeout.
class Client {
 public:
  Client(const tencent::Endpoint& url, std::chrono::milliseconds timeout) : url_(url), timeout_(timeout) {
    url_.base_path.clear();
    origin_ = url_.url();
    pool_ = make_pool();
  }

  const std::string& origin() const { return origin_; }
  /// From another thread: ends the exchange in progress (as a timeout).
  void cancel() { ioc_.stop(); }

  /// POSTs `body`; returns the answer or throws on a transport failure. A
  /// kept-alive connection the server closed meanwhile gets one fresh retry.
  http::Response send(const std::string& target, const std::string& body, const http::RequestHead& head) {
    http::Response r = attempt(target, body, head);
    if (r.stale) r = attempt(target, body, head);
    if (r.failure == http::Failure::none) return r;
    if (r.failure == http::Failure::timeout || r.failure == http::Failure::cancelled)
      throw std::runtime_error("influxdb " + origin_ + ": no answer within " + format_duration(timeout_));
    throw std::runtime_error("influxdb " + origin_ + ": " + step_of(r.failure) + " failed: " + r.detail);
  }

 private:
  static std::string step_of(http::Failure f) {
    switch (f) {
      case http::Failure::tls:
        return "TLS handshake";
      case http::Failure::resolve:
        return "resolve";
      case http::Failure::connect:
        return "connect";
      default:
        return "the exchange";
    }
  }

  std::unique_ptr<http::Pool> make_pool() {
    http::PoolOptions o;
    o.host = url_.host;
    o.port = url_.port;
    o.tls = url_.tls;
    o.max_connections = 1;
    o.timeout = timeout_;
    o.max_body_bytes = std::size_t{1} << 20;
    return std::make_unique<http::Pool>(ioc_.get_executor(), std::move(o));
  }

  http::Response attempt(const std::string& target, const std::string& body, const http::RequestHead& head) {
    std::optional<http::Response> got;
    asio::co_spawn(ioc_, pool_->post(target, body, nullptr, &head), [&got](std::exception_ptr e, http::Response r) {
      if (e) {
        r.failure = http::Failure::protocol;
        r.detail = "unexpected exception";
      }
      got = std::move(r);
    });
    ioc_.restart();
    while (!got && ioc_.run_one() > 0) {
    }
    if (!got) {
      // Cancelled from another thread: end what is pending, let it finish,
      // and start over with a fresh pool.
      pool_->shutdown();
      ioc_.restart();
      while (!got && ioc_.run_one() > 0) {
      }
      pool_ = make_pool();
      http::Response r;
      r.failure = http::Failure::cancelled;
      return r;
    }
    return std::move(*got);
  }

  tencent::Endpoint url_;  // without the path
  std::chrono::milliseconds timeout_;
  std::string origin_;
  asio::io_context ioc_{1};
  std::unique_ptr<http::Pool> pool_;
};

class InfluxSink final : public delivery::Sink {
 public:
  explicit InfluxSink(Settings s) : s_(std::move(s)), target_(write_target(s_)), client_(s_.parsed, s_.timeout) {
    if (s_.version == 2) {
      auth_ = "Token " + s_.token;
      log::add_secret(s_.token);
    } else if (!s_.username.empty()) {
      auth_ = "Basic " + base64_encode(s_.username + ":" + s_.password);
      log::add_secret(s_.password);
    }
    if (!auth_.empty()) log::add_secret(auth_.substr(auth_.find(' ') + 1));
    head_.content_type = "text/plain; charset=utf-8";
    if (!auth_.empty()) head_.headers += "Authorization: " + auth_ + "\r\n";
    if (s_.gzip) head_.headers += "Content-Encoding: gzip\r\n";
  }

  void cancel() override { client_.cancel(); }

  void write(std::span<const delivery::Result> batch) override {
    for (std::size_t i = 0; i < batch.size(); i += kPointsPerRequest) {
      post(batch.subspan(i, std::min(kPointsPerRequest, batch.size() - i)));
    }
  }

 private:
  void post(std::span<const delivery::Result> points) {
    std::string body;
    body.reserve(points.size() * 128);
    for (auto& r : points) append_line(body, s_.measurement, r);
    if (s_.gzip) body = gzip(body);
    auto res = client_.send(target_, body, head_);
    if (res.status < 200 || res.status > 299) {
      std::string msg = "influxdb " + client_.origin() + ": HTTP " + std::to_string(res.status);
      const auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(res.status));
      if (!reason.empty() && reason != "<unknown-status>") msg += " " + std::string(reason);
      if (!res.body.empty()) msg += ": " + excerpt(res.body);
      throw std::runtime_error(log::redact(msg));
    }
  }

  Settings s_;
  std::string target_;
  std::string auth_;
  http::RequestHead head_;
  Client client_;
};

class InfluxSpec final : public delivery::SpecOf<Settings> {
 public:
  using SpecOf::SpecOf;
  std::string describe() const override {
    std::string d = "influxdb v" + std::to_string(s_.version) + " " + s_.url;
    d += s_.version == 2 ? " org " + s_.org + " bucket " + s_.bucket : " database " + s_.database;
    return d + " measurement " + s_.measurement;
  }
  std::unique_ptr<delivery::Sink> create(const delivery::SinkContext&) const override {
    return std::make_unique<InfluxSink>(s_);
  }
};

}  // namespace

std::optional<tencent::Endpoint> parse_url(std::string_view text, std::string* error) {
  // parse_endpoint's reasons, in the words this sink has always used (a reason
  // reworded there shows as "url: REASON", and InfluxUrl.SaysWhatIsWrongWithAUrl
  // fails).
  static constexpr std::pair<std::string_view, std::string_view> words[] = {
      {"must start with https://", "url must start with http:// or https://"},
      {"must not contain user information",
       "url must not hold credentials; use username/password (version 1) or token (version 2)"},
      {"must not have a query or fragment", "url must not have a query or fragment"},
      {"contains whitespace or non-ASCII characters", "url must not contain spaces or non-ASCII characters"},
      {"unclosed [ in IPv6 address", "url has an unclosed '[' in its host"},
      {"unexpected text after IPv6 address", "url has junk after the host"},
      {"no host", "url has no host"},
      {"empty port", "url has an invalid port"},
      {"port must be a number from 1 to 65535", "url has an invalid port"},
  };
  std::string why;
  auto ep = tencent::parse_endpoint(text, &why, /*allow_plain=*/true);
  if (!ep && error) {
    *error = "url: " + why;
    for (const auto& [reason, said] : words)
      if (why == reason) *error = said;
  }
  return ep;
}

void append_line(std::string& out, std::string_view measurement, const delivery::Result& r) {
  append_escaped(out, measurement, ", ", true);
  append_tag(out, "app", r.app);
  append_tag(out, "group_id", r.group_id);
  if (r.meta) {
    append_tag(out, "group_name", r.meta->name);
    for (const auto& [k, v] : r.meta->labels) append_tag(out, k, v);
  }
  out += ' ';
  if (r.error_code == 0 && r.online_member_num) {
    out += "online_member_num=";
    append_int(out, *r.online_member_num);
    out += "i,";
  }
  out += "error_code=";
  append_int(out, r.error_code);
  out += "i,error_info=\"";
  append_escaped(out, r.error_info, "\"\\", false);
  out += "\" ";
  append_int(out, std::chrono::duration_cast<std::chrono::milliseconds>(r.time.time_since_epoch()).count());
  out += '\n';
}

std::string write_target(const Settings& s) {
  std::string t = s.parsed.base_path;
  if (s.version == 2) {
    t += "/api/v2/write?org=" + percent_encode(s.org) + "&bucket=" + percent_encode(s.bucket);
  } else {
    t += "/write?db=" + percent_encode(s.database);
    if (!s.retention_policy.empty()) t += "&rp=" + percent_encode(s.retention_policy);
  }
  return t + "&precision=ms";
}

std::string gzip(std::string_view data) {
  z_stream zs{};
  if (deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw std::runtime_error("influxdb: cannot start gzip");
  }
  std::string out(deflateBound(&zs, static_cast<uLong>(data.size())), '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  int rc = deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  if (rc != Z_STREAM_END) throw std::runtime_error("influxdb: gzip failed");
  return out;
}

namespace {

// Reads the sink's keys into `s`, each bad one reported at its line.
void read_settings(config::MapReader& r, Settings& s) {
  if (r.string("url", s.url, true)) {
    std::string why;
    if (auto u = parse_url(s.url, &why)) {
      s.parsed = *u;
    } else {
      r.error_at("url", why + " (got '" + r.raw("url") + "')");
    }
  }
  std::int64_t version = 1;
  r.integer("version", version, 1, 2);
  s.version = static_cast<int>(version);

  // Keys of the other API version are errors, not silently ignored.
  auto only = [&](std::string_view key, int v, std::string& out, bool secret) {
    bool present = secret ? r.secret(key, out) : r.string(key, out);
    if (present && s.version != v) {
      r.error_at(key, std::string(key) + " applies to version " + std::to_string(v) + " only");
    }
    return present;
  };
  only("database", 1, s.database, false);
  only("username", 1, s.username, false);
  only("password", 1, s.password, true);
  only("retention_policy", 1, s.retention_policy, false);
  only("org", 2, s.org, false);
  only("bucket", 2, s.bucket, false);
  only("token", 2, s.token, true);
  // The token goes into a header line as it is (the username and password
  // are base64-encoded).
  if (std::any_of(s.token.begin(), s.token.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; }))
    r.error_at("token", "token must not contain control characters or line breaks");
  auto need = [&](std::string_view key, const std::string& v) {
    if (v.empty()) r.error_at(key, std::string(key) + " is required for version " + std::to_string(s.version));
  };
  if (s.version == 1) {
    if (s.database.empty()) {
      r.error_at("database",
                 "database is required for version 1 (for InfluxDB 2 write 'version: 2' with org, bucket "
                 "and token)");
    }
    if (!s.password.empty() && s.username.empty()) r.error_at("password", "password needs a username");
  } else {
    need("org", s.org);
    need("bucket", s.bucket);
    need("token", s.token);
  }
  if (r.string("measurement", s.measurement)) {
    bool ok = !s.measurement.empty() && s.measurement.front() != '#' &&
              std::none_of(s.measurement.begin(), s.measurement.end(),
                           [](char c) { return static_cast<unsigned char>(c) < 0x20; });
    if (!ok) r.error_at("measurement", "measurement must be non-empty, without control characters or a leading '#'");
  }
  r.boolean("gzip", s.gzip);
  if (r.duration("timeout", s.timeout) && s.timeout.count() <= 0) r.error_at("timeout", "timeout must be positive");
}

}  // namespace

std::unique_ptr<delivery::SinkSpec> parse(config::MapReader& r) {
  return delivery::make_spec<InfluxSpec, Settings>(r, [&](Settings& s) { read_settings(r, s); });
}

}  // namespace groupwatch::sinks::influxdb

GW_REGISTER_SINK(influxdb, "line protocol over HTTP(S) to InfluxDB 1.x (/write) or 2.x (/api/v2/write)",
                 {{"url", "http(s)://HOST:PORT of the InfluxDB server (required)"},
                  {"version", "1 (POST /write) or 2 (POST /api/v2/write) (default 1)"},
                  {"database", "version 1: the database (required for version 1)"},
                  {"username", "version 1: user name (optional)"},
                  {"password", "version 1: password (optional; a secret, never logged)"},
                  {"retention_policy", "version 1: retention policy (default: the database's)"},
                  {"org", "version 2: organisation (required for version 2)"},
                  {"bucket", "version 2: bucket (required for version 2)"},
                  {"token", "version 2: API token (required for version 2; a secret, never logged)"},
                  {"measurement", "measurement name (default groupwatch)"},
                  {"gzip", "gzip the request body (default true)"},
                  {"timeout", "one write, connect to last byte (default 10s)"}});
