#include "support/servers.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

#include <simdjson.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace gw_test {
namespace {

std::string script(const char* name) {
  return std::string(GW_SOURCE_DIR) + "/scripts/servers/" + name;
}

bool executable(const char* path) {
  return ::access(path, X_OK) == 0;
}

// A helper program (PATH searched) to completion, its stdout and stderr together.
RunResult tool(const std::vector<std::string>& argv) {
  return run(argv, {.timeout = std::chrono::minutes(10), .merge_output = true});
}

void must(const RunResult& r, const std::string& what) {
  if (r.status != 0) throw std::runtime_error(what + " failed (status " + std::to_string(r.status) + "): " + r.out);
}

// Splits curl's "-w '\n%{http_code}'" trailer off the body.
std::pair<int, std::string> split_status(const std::string& out) {
  auto nl = out.rfind('\n');
  if (nl == std::string::npos) return {0, out};
  return {std::atoi(out.c_str() + nl + 1), out.substr(0, nl)};
}

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

std::string url_encode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char b[4];
      std::snprintf(b, sizeof b, "%%%02X", c);
      out += b;
    }
  }
  return out;
}

}  // namespace

HttpReply http_get(std::uint16_t port, const std::string& target, const std::string& host) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  HttpReply out;
  try {
    boost::asio::io_context io;
    beast::tcp_stream stream(io);
    stream.connect(boost::asio::ip::tcp::endpoint(boost::asio::ip::make_address(host), port));
    timeval tv{5, 0};
    ::setsockopt(stream.socket().native_handle(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    http::request<http::empty_body> req{http::verb::get, target, 11};
    req.set(http::field::host, host);
    req.keep_alive(false);
    http::write(stream, req);
    beast::flat_buffer buf;
    http::response_parser<http::string_body> parser;
    parser.body_limit(64 * 1024 * 1024);
    http::read(stream, buf, parser);
    out.status = static_cast<int>(parser.get().result_int());
    out.body = parser.get().body();
    out.content_type = std::string(parser.get()[http::field::content_type]);
  } catch (const std::exception&) {
    out.status = 0;
  }
  return out;
}

std::string postgres_unavailable() {
  if (!executable("/usr/lib/postgresql/15/bin/pg_ctl")) {
    return "PostgreSQL 15 server not installed (/usr/lib/postgresql/15/bin/pg_ctl); scripts/test installs it";
  }
  if (tool({"psql", "--version"}).status != 0) return "psql not installed";
  return "";
}

std::string influxdb_unavailable() {
  if (!executable("/usr/bin/influxd")) return "InfluxDB not installed (/usr/bin/influxd); scripts/test installs it";
  if (tool({"curl", "--version"}).status != 0) return "curl not installed";
  return "";
}

// ---- PostgreSQL

Postgres::Postgres() : port_(free_port()) {
  ::setenv("PGCLIENTENCODING", "UTF8", 1);
}

Postgres::~Postgres() {
  tool({"/bin/sh", script("postgres"), "stop", dir_.path().string(), "immediate"});
}

void Postgres::start() {
  must(tool({"/bin/sh", script("postgres"), "start", dir_.path().string(), std::to_string(port_)}),
       "scripts/servers/postgres start");
}

void Postgres::stop(bool crash) {
  must(tool({"/bin/sh", script("postgres"), "stop", dir_.path().string(), crash ? "immediate" : "fast"}),
       "scripts/servers/postgres stop");
}

std::string Postgres::dsn() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=gw dbname=postgres";
}

std::string Postgres::psql(const std::string& sql) const {
  auto r = tool({"psql", "-X", "-q", "-h", "127.0.0.1", "-p", std::to_string(port_), "-U", "gw", "-d", "postgres", "-v",
                 "ON_ERROR_STOP=1", "-Atc", sql});
  must(r, "psql -c '" + sql + "'");
  if (!r.out.empty() && r.out.back() == '\n') r.out.pop_back();
  return r.out;
}

// ---- InfluxDB

Influx::Influx() : port_(free_port()), rpc_port_(free_port()) {}

Influx::~Influx() {
  tool({"/bin/sh", script("influxdb"), "stop", dir_.path().string()});
}

void Influx::start() {
  must(tool({"/bin/sh", script("influxdb"), "start", dir_.path().string(), std::to_string(port_),
             std::to_string(rpc_port_)}),
       "scripts/servers/influxdb start");
}

void Influx::stop() {
  must(tool({"/bin/sh", script("influxdb"), "stop", dir_.path().string()}), "scripts/servers/influxdb stop");
}

void Influx::command(const std::string& q) {
  auto r = tool({"curl", "-sS", "-w", "\n%{http_code}", "-XPOST", url() + "/query", "--data-urlencode", "q=" + q});
  must(r, "curl " + q);
  auto [status, body] = split_status(r.out);
  if (status != 200 || body.find("\"error\"") != std::string::npos) {
    throw std::runtime_error("influx " + q + ": HTTP " + std::to_string(status) + " " + body);
  }
}

std::string Influx::query(const std::string& db, const std::string& q) {
  auto r = tool({"curl", "-sS", "-G", "-w", "\n%{http_code}", url() + "/query", "--data-urlencode", "db=" + db,
                 "--data-urlencode", "epoch=ms", "--data-urlencode", "q=" + q});
  must(r, "curl " + q);
  auto [status, body] = split_status(r.out);
  if (status != 200) throw std::runtime_error("influx " + q + ": HTTP " + std::to_string(status) + " " + body);
  return body;
}

// ---- Prometheus

bool Prometheus::available() {
  return executable(binary);
}

Prometheus::Prometheus(const std::vector<std::uint16_t>& target_ports) {
  std::ostringstream y;
  y << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
    << "scrape_configs:\n  - job_name: groupwatch\n    static_configs:\n      - targets: [";
  for (std::size_t i = 0; i < target_ports.size(); ++i)
    y << (i ? ", " : "") << "\"127.0.0.1:" << target_ports[i] << "\"";
  y << "]\n";
  dir_.write("prometheus.yml", y.str());
  port_ = free_port();
  child_ =
      std::make_unique<Process>(std::vector<std::string>{binary, "--config.file=" + dir_.file("prometheus.yml"),
                                                         "--storage.tsdb.path=" + dir_.file("data"),
                                                         "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
                                dir_.file("prometheus.out"), dir_.file("prometheus.err"));
}

Prometheus::~Prometheus() {
  child_->stop();
}

bool Prometheus::wait_ready(std::chrono::milliseconds timeout) {
  return wait_for([&] { return http_get(port_, "/-/ready").status == 200; }, timeout, 200ms);
}

bool Prometheus::query_until(const std::string& q, const std::function<bool(const std::vector<PromSample>&)>& done,
                             std::vector<PromSample>& got, std::chrono::milliseconds timeout,
                             std::chrono::milliseconds every) {
  return wait_for(
      [&] {
        auto r = query(q);
        if (r) got = *r;
        return r && done(*r);
      },
      timeout, every);
}

std::optional<std::vector<PromSample>> Prometheus::query(const std::string& q) {
  auto r = http_get(port_, "/api/v1/query?query=" + url_encode(q));
  if (r.status != 200) return std::nullopt;
  std::vector<PromSample> out;
  try {
    simdjson::ondemand::parser parser;
    simdjson::padded_string body(r.body);
    auto doc = parser.iterate(body);
    if (std::string_view(doc["status"]) != "success") return std::nullopt;
    for (auto item : doc["data"]["result"].get_array()) {
      PromSample s;
      for (auto field : item["metric"].get_object())
        s.labels[std::string(std::string_view(field.unescaped_key()))] = std::string(std::string_view(field.value()));
      auto value = item["value"].get_array();
      auto it = value.begin();
      ++it;  // the timestamp
      s.value = std::string(std::string_view(*it));
      out.push_back(std::move(s));
    }
  } catch (const simdjson::simdjson_error&) {
    return std::nullopt;
  }
  return out;
}

// ---- Chromium

bool chromium_available() {
  return executable(kChromium);
}

RunResult chromium(const TempDir& dir, const std::string& name, const std::vector<std::string>& extra,
                   const std::string& url) {
  std::vector<std::string> argv{kChromium,
                                "--headless",
                                "--no-sandbox",
                                "--disable-gpu",
                                "--disable-quic",
                                "--no-first-run",
                                "--disable-background-networking",
                                "--disable-component-update",
                                "--disable-sync",
                                "--hide-scrollbars",
                                "--user-data-dir=" + dir.file("profile-" + name),
                                "--virtual-time-budget=5000"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.push_back(url);
  RunResult r;
  {
    Process c(argv, dir.file(name + ".out"), dir.file(name + ".err"));
    r.status = c.wait(120s);
    c.stop();  // one that hangs ends its own helpers on SIGTERM
  }
  r.out = read_file(dir.file(name + ".out"));
  r.err = read_file(dir.file(name + ".err"));
  return r;
}

// ---- Recording HTTP server

RecordingServer::RecordingServer() {
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(listen_fd_, 8) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("recording server: cannot listen");
  }
  port_ = ntohs(a.sin_port);
  thread_ = std::thread([this] { serve(); });
}

RecordingServer::~RecordingServer() {
  ::shutdown(listen_fd_, SHUT_RDWR);
  {
    std::lock_guard lk(mu_);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  thread_.join();
  ::close(listen_fd_);
}

void RecordingServer::set_reply(int status, std::string body, Mode mode) {
  std::lock_guard lk(mu_);
  status_ = status;
  body_ = std::move(body);
  mode_ = mode;
}

std::vector<RecordingServer::Request> RecordingServer::requests() {
  std::lock_guard lk(mu_);
  return requests_;
}

int RecordingServer::connections() {
  std::lock_guard lk(mu_);
  return connections_;
}

void RecordingServer::serve() {
  for (;;) {
    int fd = ::accept(listen_fd_, nullptr, nullptr);
    if (fd < 0) {
      if (errno == EINTR) continue;
      return;  // the listening socket was shut down
    }
    int index;
    {
      std::lock_guard lk(mu_);
      index = ++connections_;
      open_fds_.push_back(fd);
    }
    while (serve_connection(fd, index)) {
    }
    {
      std::lock_guard lk(mu_);
      std::erase(open_fds_, fd);
    }
    ::close(fd);
  }
}

// One request on `fd`; false when the connection is done.
bool RecordingServer::serve_connection(int fd, int index) {
  std::string in;
  char buf[8192];
  auto fill = [&]() {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return false;
    in.append(buf, static_cast<std::size_t>(n));
    return true;
  };
  std::size_t head_end;
  while ((head_end = in.find("\r\n\r\n")) == std::string::npos) {
    if (!fill()) return false;
    if (in[0] == 0x16) {  // a TLS ClientHello: answer in plain HTTP, as a plain server does
      std::string out = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
      ::send(fd, out.data(), out.size(), MSG_NOSIGNAL);
      return false;
    }
  }
  Request req;
  req.connection = index;
  std::string head = in.substr(0, head_end);
  auto line_end = head.find("\r\n");
  std::string request_line = head.substr(0, line_end);
  auto sp1 = request_line.find(' ');
  auto sp2 = request_line.rfind(' ');
  req.method = request_line.substr(0, sp1);
  req.target = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    auto end = head.find("\r\n", pos);
    if (end == std::string::npos) end = head.size();
    std::string h = head.substr(pos, end - pos);
    auto colon = h.find(':');
    if (colon != std::string::npos) {
      std::string value = h.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      req.headers[lower(h.substr(0, colon))] = value;
    }
    pos = end + 2;
  }
  std::size_t length = req.headers.count("content-length") ? std::stoul(req.headers["content-length"]) : 0;
  std::size_t body_start = head_end + 4;
  while (in.size() < body_start + length) {
    if (!fill()) return false;
  }
  req.body = in.substr(body_start, length);

  int status;
  std::string body;
  Mode mode;
  {
    std::lock_guard lk(mu_);
    requests_.push_back(req);
    status = status_;
    body = body_;
    mode = mode_;
  }
  if (mode == Mode::never_reply) {
    while (fill()) {
    }
    return false;
  }
  std::string out = "HTTP/1.1 " + std::to_string(status) + (status / 100 == 2 ? " OK" : " Error") +
                    "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
                    "\r\n\r\n" + body;
  std::size_t sent = 0;
  while (sent < out.size()) {
    ssize_t n = ::send(fd, out.data() + sent, out.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) return false;
    sent += static_cast<std::size_t>(n);
  }
  // close_after_reply: the server drops a connection the client believes is
  // kept alive (as an idle timeout would).
  return mode == Mode::reply;
}

std::string gunzip(std::string_view data) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) throw std::runtime_error("inflateInit2 failed");
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  std::string out;
  char buf[16384];
  int rc;
  do {
    zs.next_out = reinterpret_cast<Bytef*>(buf);
    zs.avail_out = sizeof buf;
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) {
      inflateEnd(&zs);
      throw std::runtime_error("not a valid gzip stream");
    }
    out.append(buf, sizeof buf - zs.avail_out);
  } while (rc != Z_STREAM_END);
  inflateEnd(&zs);
  return out;
}

}  // namespace gw_test
