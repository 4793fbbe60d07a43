#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>

#include "sink/servers.hpp"
#include "support/spawn.hpp"

namespace gw_test::servers {
namespace {

namespace fs = std::filesystem;

std::string script(const char* name) {
  return std::string(GW_SOURCE_DIR) + "/scripts/servers/" + name;
}

bool executable(const char* path) {
  return ::access(path, X_OK) == 0;
}

void must(const RunResult& r, const std::string& what) {
  if (r.status != 0) throw std::runtime_error(what + " failed (status " + std::to_string(r.status) + "): " + r.output);
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

}  // namespace

RunResult run(const std::vector<std::string>& argv) {
  int fds[2];
  if (::pipe(fds) != 0) throw std::runtime_error("pipe failed");
  groupwatch::testing::SpawnOptions so;
  so.stdio.out_fd = fds[1];
  so.stdio.err_fd = fds[1];
  so.search_path = true;
  pid_t pid = -1;
  try {
    pid = groupwatch::testing::spawn(argv, so);
  } catch (const std::system_error& e) {
    ::close(fds[0]);
    ::close(fds[1]);
    return RunResult{127, std::string("cannot run ") + argv.at(0) + ": " + e.code().message()};
  }
  ::close(fds[1]);
  RunResult r;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    r.output.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fds[0]);
  int st = 0;
  while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port");
  }
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string make_temp_dir(std::string_view prefix) {
  std::string tmpl = (fs::temp_directory_path() / (std::string(prefix) + "XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  return tmpl;
}

std::string postgres_unavailable() {
  if (!executable("/usr/lib/postgresql/15/bin/pg_ctl")) {
    return "PostgreSQL 15 server not installed (/usr/lib/postgresql/15/bin/pg_ctl); scripts/test installs it";
  }
  if (run({"psql", "--version"}).status != 0) return "psql not installed";
  return "";
}

std::string influxdb_unavailable() {
  if (!executable("/usr/bin/influxd")) return "InfluxDB not installed (/usr/bin/influxd); scripts/test installs it";
  if (run({"curl", "--version"}).status != 0) return "curl not installed";
  return "";
}

// ---- PostgreSQL

Postgres::Postgres() : dir_(make_temp_dir("gw-pg-")), port_(free_port()) {
  ::setenv("PGCLIENTENCODING", "UTF8", 1);
}

Postgres::~Postgres() {
  run({"/bin/sh", script("postgres"), "stop", dir_, "immediate"});
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void Postgres::start() {
  must(run({"/bin/sh", script("postgres"), "start", dir_, std::to_string(port_)}), "scripts/servers/postgres start");
}

void Postgres::stop(bool crash) {
  must(run({"/bin/sh", script("postgres"), "stop", dir_, crash ? "immediate" : "fast"}),
       "scripts/servers/postgres stop");
}

std::string Postgres::dsn() const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " user=gw dbname=postgres";
}

std::string Postgres::psql(const std::string& sql) const {
  auto r = run({"psql", "-X", "-q", "-h", "127.0.0.1", "-p", std::to_string(port_), "-U", "gw", "-d", "postgres", "-v",
                "ON_ERROR_STOP=1", "-Atc", sql});
  must(r, "psql -c '" + sql + "'");
  if (!r.output.empty() && r.output.back() == '\n') r.output.pop_back();
  return r.output;
}

// ---- InfluxDB

Influx::Influx() : dir_(make_temp_dir("gw-influx-")), port_(free_port()), rpc_port_(free_port()) {}

Influx::~Influx() {
  run({"/bin/sh", script("influxdb"), "stop", dir_});
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void Influx::start() {
  must(run({"/bin/sh", script("influxdb"), "start", dir_, std::to_string(port_), std::to_string(rpc_port_)}),
       "scripts/servers/influxdb start");
}

void Influx::stop() {
  must(run({"/bin/sh", script("influxdb"), "stop", dir_}), "scripts/servers/influxdb stop");
}

void Influx::command(const std::string& q) {
  auto r = run({"curl", "-sS", "-w", "\n%{http_code}", "-XPOST", url() + "/query", "--data-urlencode", "q=" + q});
  must(r, "curl " + q);
  auto [status, body] = split_status(r.output);
  if (status != 200 || body.find("\"error\"") != std::string::npos) {
    throw std::runtime_error("influx " + q + ": HTTP " + std::to_string(status) + " " + body);
  }
}

std::string Influx::query(const std::string& db, const std::string& q) {
  auto r = run({"curl", "-sS", "-G", "-w", "\n%{http_code}", url() + "/query", "--data-urlencode", "db=" + db,
                "--data-urlencode", "epoch=ms", "--data-urlencode", "q=" + q});
  must(r, "curl " + q);
  auto [status, body] = split_status(r.output);
  if (status != 200) throw std::runtime_error("influx " + q + ": HTTP " + std::to_string(status) + " " + body);
  return body;
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

}  // namespace gw_test::servers
