#include "app/control.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>

#include "app/spawn.hpp"
#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/text.hpp"

// GCC 12 at -O2 calls Asio's sized coroutine-frame delete mismatched in
// serve_list(): the false positive CMakeLists.txt silences for -O1 builds.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace groupwatch::app {

namespace asio = boost::asio;
using local = asio::local::stream_protocol;

namespace {

// A request names at most this many bytes of group IDs (2,000,000 IDs).
constexpr std::size_t max_request_bytes = std::size_t{128} << 20;

std::string escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else {
      out += c;
    }
  }
  return out;
}

std::string unescape(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\' || i + 1 == s.size()) {
      out += s[i];
      continue;
    }
    char n = s[++i];
    out += n == 't' ? '\t' : n == 'n' ? '\n' : n == 'r' ? '\r' : n;
  }
  return out;
}

// One result a line: time_ms, group, code, count or "-", app, sdkappid, info.
std::string result_line(const delivery::Result& r) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(r.time.time_since_epoch()).count();
  return fmt::format("{}\t{}\t{}\t{}\t{}\t{}\t{}\n", ms, escape(r.group_id), r.error_code,
                     r.online_member_num ? std::to_string(*r.online_member_num) : "-", escape(r.app), r.sdkappid,
                     escape(r.error_info));
}

// The tab-separated fields of one line.
std::vector<std::string_view> fields(std::string_view line) {
  std::vector<std::string_view> f;
  std::size_t start = 0;
  for (std::size_t i = 0; i <= line.size(); ++i) {
    if (i == line.size() || line[i] == '\t') {
      f.push_back(line.substr(start, i - start));
      start = i + 1;
    }
  }
  return f;
}

std::optional<delivery::Result> parse_result(std::string_view line) {
  const auto f = fields(line);
  if (f.size() != 7) return std::nullopt;
  delivery::Result r;
  const auto ms = parse_number<std::int64_t>(f[0]);
  const auto code = parse_number<decltype(r.error_code)>(f[2]);
  const auto sdkappid = parse_number<decltype(r.sdkappid)>(f[5]);
  if (!ms || !code || !sdkappid) return std::nullopt;
  r.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(*ms));
  r.error_code = *code;
  r.sdkappid = *sdkappid;
  r.group_id = unescape(f[1]);
  if (f[3] != "-") {
    r.online_member_num = parse_number<std::uint64_t>(f[3]);
    if (!r.online_member_num) return std::nullopt;
  }
  r.app = unescape(f[4]);
  r.error_info = unescape(f[6]);
  return r;
}

}  // namespace

// ---------------------------------------------------------------- StateLock

std::unique_ptr<StateLock> StateLock::take(const std::string& state_dir, std::string& error) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  const std::string path = state_dir + "/groupwatch.lock";
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = fmt::format("state_dir unusable: cannot open '{}': {}", path, std::strerror(errno));
    return nullptr;
  }
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    char buf[32] = {};
    auto n = ::pread(fd, buf, sizeof buf - 1, 0);
    std::string pid = n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : "";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    ::close(fd);
    error = fmt::format("another groupwatch (pid {}) is running on state_dir '{}'; one daemon per state_dir",
                        pid.empty() ? "unknown" : pid, state_dir);
    return nullptr;
  }
  auto text = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, text.data(), text.size(), 0) < 0) {
    // The lock holds without the pid; only the message of a second daemon suffers.
  }
  return std::unique_ptr<StateLock>(new StateLock(fd));
}

StateLock::~StateLock() {
  ::close(fd_);  // releases the flock; the file stays (removing it would race a new daemon)
}

std::string control_socket_path(const std::string& state_dir) {
  return state_dir + "/groupwatch.sock";
}

// ---------------------------------------------------------------- server

struct ControlServer::Impl : std::enable_shared_from_this<Impl> {
  Impl(asio::io_context& i, Engine& e, std::string p) : io(i), engine(e), path(std::move(p)), acceptor(i) {}

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    for (;;) {
      auto [ec, sock] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) continue;
      spawn_logged(
          io, [self, s = std::make_shared<local::socket>(std::move(sock))]() { return self->serve(s); },
          "control connection");
    }
  }

  asio::awaitable<void> serve(std::shared_ptr<local::socket> sock) {
    auto self = shared_from_this();
    constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
    asio::streambuf buf(max_request_bytes);
    auto [ec, n] = co_await asio::async_read_until(*sock, buf, "\n\n", tuple);
    if (ec) co_return;
    std::string req(asio::buffers_begin(buf.data()), asio::buffers_begin(buf.data()) + static_cast<std::ptrdiff_t>(n));
    std::vector<std::string> lines;
    std::size_t start = 0;
    for (std::size_t i = 0; i < req.size(); ++i) {
      if (req[i] != '\n') continue;
      if (i > start) lines.push_back(req.substr(start, i - start));
      start = i + 1;
    }
    if (!lines.empty() && lines[0].rfind("list ", 0) == 0) {
      co_await serve_list(*sock, lines[0].substr(5));
      co_return;
    }
    if (lines.empty() || lines[0].rfind("ask ", 0) != 0) co_return;
    std::string key = lines[0].substr(4);
    std::vector<std::string> groups(lines.begin() + 1, lines.end());
    // The answer comes back on this coroutine through a timer used as a signal.
    asio::steady_timer ready(io, asio::steady_timer::time_point::max());
    std::optional<std::vector<delivery::Result>> results;
    const auto n_groups = groups.size();
    bool ok = engine.ask(key, std::move(groups), [&results, &ready](std::vector<delivery::Result> r) {
      results = std::move(r);
      ready.cancel();
    });
    if (!ok) {
      co_await asio::async_write(*sock, asio::buffer(std::string("no\n")), tuple);
      co_return;
    }
    log::info(events::control_ask, "polling groups for a local query",
              {{"key", key}, {"groups", static_cast<std::uint64_t>(n_groups)}});
    co_await ready.async_wait(tuple);
    // Shutting down (or the app stopped) before every group was answered:
    // the client polls on its own rather than take a partial answer as whole.
    if (!results || results->size() < n_groups) {
      co_await asio::async_write(*sock, asio::buffer(std::string("no\n")), tuple);
      co_return;
    }
    std::string out = "ok\n";
    for (const auto& r : *results) out += result_line(r);
    out += "end\n";
    co_await asio::async_write(*sock, asio::buffer(out), tuple);
  }

  // "list KEY": every group of the SDKAppID with its type and name, listed
  // through the daemon's discovery limiters; "ok", ID<TAB>TYPE<TAB>NAME
  // lines, "end"; or "fail<TAB>why"; or "no" when it has no such app.
  asio::awaitable<void> serve_list(local::socket& sock, std::string key) {
    constexpr auto tuple = asio::as_tuple(asio::use_awaitable);
    asio::steady_timer ready(io, asio::steady_timer::time_point::max());
    std::string out = "fail\tthe daemon stopped before the listing ended\n";
    bool ok = engine.list_groups(key, [&](bool listed, std::string error, std::vector<Engine::ListedGroup> groups) {
      if (listed) {
        out = "ok\n";
        for (const auto& g : groups) out += fmt::format("{}\t{}\t{}\n", escape(g.id), escape(g.type), escape(g.name));
        out += "end\n";
      } else {
        out = "fail\t" + escape(error) + "\n";
      }
      ready.cancel();
    });
    if (!ok) {
      co_await asio::async_write(sock, asio::buffer(std::string("no\n")), tuple);
      co_return;
    }
    log::info(events::control_ask, "listing groups for a local discover", {{"key", key}});
    co_await ready.async_wait(tuple);  // list_groups answers later, never from inside the call
    co_await asio::async_write(sock, asio::buffer(out), tuple);
  }

  asio::io_context& io;
  Engine& engine;
  std::string path;
  local::acceptor acceptor;
};

ControlServer::ControlServer(asio::io_context& io, Engine& engine, const std::string& state_dir)
    : impl_(std::make_shared<Impl>(io, engine, control_socket_path(state_dir))) {
  // The state lock is held: a socket left here is a dead daemon's.
  ::unlink(impl_->path.c_str());
  boost::system::error_code ec;
  impl_->acceptor.open(local::endpoint(impl_->path).protocol(), ec);
  if (!ec) impl_->acceptor.bind(local::endpoint(impl_->path), ec);
  if (!ec) ::chmod(impl_->path.c_str(), 0600);
  if (!ec) impl_->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("cannot listen on " + impl_->path + ": " + ec.message());
  spawn_logged(
      io, [impl = impl_]() { return impl->accept_loop(); }, "control socket");
}

ControlServer::~ControlServer() {
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
  ::unlink(impl_->path.c_str());
}

// ---------------------------------------------------------------- client

namespace {

// Sends `req` to the daemon on state_dir and reads its whole answer;
// nullopt when no daemon listens there.
std::optional<std::string> talk_to_daemon(const std::string& state_dir, const std::string& req) {
  const std::string path = control_socket_path(state_dir);
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path) return std::nullopt;
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return std::nullopt;
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) return std::nullopt;
  for (std::size_t off = 0; off < req.size();) {
    auto n = ::send(fd, req.data() + off, req.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return std::nullopt;
    off += static_cast<std::size_t>(n);
  }
  std::string in;
  char buf[65536];
  for (;;) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    in.append(buf, static_cast<std::size_t>(n));
  }
  return in;
}

}  // namespace

std::optional<DaemonListing> list_via_daemon(const std::string& state_dir, const std::string& key) {
  auto in = talk_to_daemon(state_dir, "list " + key + "\n\n");
  if (!in) return std::nullopt;
  DaemonListing out;
  if (in->rfind("fail\t", 0) == 0) {
    out.error = unescape(std::string_view(*in).substr(5, in->find('\n') - 5));
    return out;
  }
  if (in->rfind("ok\n", 0) != 0 || !in->ends_with("end\n")) return std::nullopt;
  std::size_t start = 3;
  const std::size_t stop = in->size() - 4;
  while (start < stop) {
    auto nl = in->find('\n', start);
    if (nl == std::string::npos || nl > stop) break;
    auto f = fields(std::string_view(*in).substr(start, nl - start));
    if (f.size() == 3) out.groups.push_back({unescape(f[0]), unescape(f[1]), unescape(f[2])});
    start = nl + 1;
  }
  out.ok = true;
  return out;
}

std::optional<std::vector<delivery::Result>> ask_daemon(const std::string& state_dir, const std::string& key,
                                                        const std::vector<std::string>& groups) {
  std::string req = "ask " + key + "\n";
  for (const auto& g : groups) {
    if (g.empty() || g.find('\n') != std::string::npos) continue;
    req += g;
    req += '\n';
  }
  req += '\n';
  auto answer = talk_to_daemon(state_dir, req);
  if (!answer) return std::nullopt;
  const std::string& in = *answer;
  if (in.rfind("ok\n", 0) != 0 || in.size() < 7 || in.compare(in.size() - 5, 5, "\nend\n") != 0) return std::nullopt;
  std::vector<delivery::Result> out;
  std::size_t start = 3;
  const std::size_t stop = in.size() - 4;
  while (start < stop) {
    auto nl = in.find('\n', start);
    if (nl == std::string::npos || nl > stop) break;
    if (auto r = parse_result(std::string_view(in).substr(start, nl - start))) out.push_back(std::move(*r));
    start = nl + 1;
  }
  return out;
}

}  // namespace groupwatch::app
