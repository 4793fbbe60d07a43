#pragma once
// Test helpers shared by the admin and sink tests: a blocking HTTP GET, free
// loopback ports, child processes, and a real Prometheus server
// (/usr/bin/prometheus) on loopback with a throwaway directory.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "support/spawn.hpp"

namespace gw_real {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct HttpReply {
  int status = 0;  // 0: no connection / no answer
  std::string body;
  std::string content_type;
};

/// One blocking GET with a short socket timeout.
inline HttpReply http_get(std::uint16_t port, const std::string& target, const std::string& host = "127.0.0.1") {
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

/// A loopback port that was free a moment ago.
inline std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

inline std::string url_encode(const std::string& s) {
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

inline std::string slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "gw-real") {
    std::string tmpl = (fs::temp_directory_path() / (prefix + "-XXXXXX")).string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    if (!std::getenv("GW_KEEP_TMP")) fs::remove_all(path_, ec);
  }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  void write(const std::string& name, const std::string& text) const { std::ofstream(path_ / name) << text; }

 private:
  fs::path path_;
};

/// A child process, stdout and stderr to files; killed (SIGTERM, then
/// SIGKILL) when destroyed.
class Child {
 public:
  Child(std::vector<std::string> argv, const std::string& out_file, const std::string& err_file) {
    groupwatch::testing::SpawnOptions so;
    so.stdio.out_file = out_file;
    so.stdio.err_file = err_file;
    pid_ = groupwatch::testing::spawn(argv, so);
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  ~Child() { stop(); }
  /// SIGTERM, up to `grace` to exit, then SIGKILL. Returns the exit status
  /// (128 + signal when killed).
  int stop(std::chrono::milliseconds grace = 10s) {
    if (pid_ <= 0 || done_) return status_;
    ::kill(pid_, SIGTERM);
    if (wait(grace) == -1) {
      ::kill(pid_, SIGKILL);
      wait(5s);
    }
    return status_;
  }
  /// -1 while running after `timeout`.
  int wait(std::chrono::milliseconds timeout) {
    auto until = std::chrono::steady_clock::now() + timeout;
    do {
      int st = 0;
      if (::waitpid(pid_, &st, WNOHANG) == pid_) {
        done_ = true;
        status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
        return status_;
      }
      std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < until);
    return -1;
  }
  bool running() {
    if (done_) return false;
    return wait(0ms) == -1;
  }

 private:
  pid_t pid_ = -1;
  bool done_ = false;
  int status_ = -1;
};

inline bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred()) return true;
    std::this_thread::sleep_for(200ms);
  }
  return pred();
}

/// One sample of an instant query: its labels and value.
struct PromSample {
  std::map<std::string, std::string> labels;
  std::string value;
};

/// A real Prometheus 2.x on loopback scraping `targets` every second.
class Prometheus {
 public:
  static constexpr const char* binary = "/usr/bin/prometheus";
  static bool available() { return ::access(binary, X_OK) == 0; }

  explicit Prometheus(const std::vector<std::uint16_t>& target_ports) : dir_("gw-prom") {
    std::ostringstream y;
    y << "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
      << "scrape_configs:\n  - job_name: groupwatch\n    static_configs:\n      - targets: [";
    for (std::size_t i = 0; i < target_ports.size(); ++i)
      y << (i ? ", " : "") << "\"127.0.0.1:" << target_ports[i] << "\"";
    y << "]\n";
    dir_.write("prometheus.yml", y.str());
    port_ = free_port();
    child_ =
        std::make_unique<Child>(std::vector<std::string>{binary, "--config.file=" + dir_.file("prometheus.yml"),
                                                         "--storage.tsdb.path=" + dir_.file("data"),
                                                         "--web.listen-address=127.0.0.1:" + std::to_string(port_)},
                                dir_.file("prometheus.out"), dir_.file("prometheus.err"));
  }
  ~Prometheus() { child_->stop(); }

  std::uint16_t port() const { return port_; }
  bool wait_ready(std::chrono::milliseconds timeout = 60s) {
    return eventually([&] { return http_get(port_, "/-/ready").status == 200; }, timeout);
  }
  std::string log() const { return slurp(dir_.file("prometheus.err")); }

  /// An instant query through /api/v1/query; nullopt when the API fails.
  std::optional<std::vector<PromSample>> query(const std::string& q) {
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

 private:
  TempDir dir_;
  std::uint16_t port_ = 0;
  std::unique_ptr<Child> child_;
};

}  // namespace gw_real
