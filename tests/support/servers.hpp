// The real servers the tests start on loopback, each in a throwaway
// directory: PostgreSQL and InfluxDB (through scripts/servers/*), Prometheus,
// headless Chromium; a blocking HTTP GET to ask them; and a tiny recording
// HTTP server for the request forms no real server here can answer
// (InfluxDB v2). Beast stays in servers.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <boost/core/noncopyable.hpp>

#include "support/harness.hpp"

namespace gw_test {

struct HttpReply {
  int status = 0;  // 0: no connection / no answer
  std::string body;
  std::string content_type;
};
/// One blocking GET with a short socket timeout.
HttpReply http_get(std::uint16_t port, const std::string& target, const std::string& host = "127.0.0.1");

/// Empty when the server can be started here, otherwise why not.
std::string postgres_unavailable();
std::string influxdb_unavailable();

/// A throwaway PostgreSQL 15 (superuser gw, trust auth). Stopped and
/// removed by the destructor.
class Postgres : boost::noncopyable {
 public:
  Postgres();
  ~Postgres();

  void start();                   // throws with the script's output
  void stop(bool crash = false);  // crash: pg_ctl -m immediate
  int port() const { return port_; }
  std::string dsn() const;  // key=value form
  /// `psql -Atc sql`; throws on failure; the output without the last newline.
  std::string psql(const std::string& sql) const;

 private:
  TempDir dir_{"gw-pg"};
  int port_;
};

/// A throwaway InfluxDB 1.x. Stopped and removed by the destructor.
class Influx : boost::noncopyable {
 public:
  Influx();
  ~Influx();

  void start();
  void stop();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// POST /query with q (e.g. CREATE DATABASE); throws unless 200.
  void command(const std::string& q);
  /// GET /query?db=..&epoch=ms&q=..: the JSON answer; throws unless 200.
  std::string query(const std::string& db, const std::string& q);

 private:
  TempDir dir_{"gw-influx"};
  int port_;
  int rpc_port_;
};

/// One sample of an instant query: its labels and value.
struct PromSample {
  std::map<std::string, std::string> labels;
  std::string value;
};

/// A real Prometheus 2.x on loopback scraping `targets` every second.
class Prometheus {
 public:
  static constexpr const char* binary = "/usr/bin/prometheus";
  static bool available();

  explicit Prometheus(const std::vector<std::uint16_t>& target_ports);
  ~Prometheus();
  Prometheus(const Prometheus&) = delete;
  Prometheus& operator=(const Prometheus&) = delete;

  std::uint16_t port() const { return port_; }
  bool wait_ready(std::chrono::milliseconds timeout = 60s);
  std::string log() const { return read_file(dir_.file("prometheus.err")); }
  /// An instant query through /api/v1/query; nullopt when the API fails.
  std::optional<std::vector<PromSample>> query(const std::string& q);
  /// Runs query(q) every `every` until its samples satisfy `done` or
  /// `timeout` passes: whether they did; `got` holds the last samples.
  bool query_until(const std::string& q, const std::function<bool(const std::vector<PromSample>&)>& done,
                   std::vector<PromSample>& got, std::chrono::milliseconds timeout, std::chrono::milliseconds every);

 private:
  TempDir dir_{"gw-prom"};
  std::uint16_t port_ = 0;
  std::unique_ptr<Process> child_;
};

/// Headless Chromium (/usr/bin/chromium).
inline constexpr const char* kChromium = "/usr/bin/chromium";
bool chromium_available();
/// Loads `url` with the `extra` flags, its profile and output named `name`
/// in `dir`; up to 120 s. out: what it printed (--dump-dom: the DOM).
RunResult chromium(const TempDir& dir, const std::string& name, const std::vector<std::string>& extra,
                   const std::string& url);

/// Records each HTTP/1.1 request and answers with a configurable status.
class RecordingServer {
 public:
  struct Request {
    std::string method;
    std::string target;
    std::map<std::string, std::string> headers;  // names lower-cased
    std::string body;
    int connection = 0;  // 1-based index of the TCP connection it came on
  };
  enum class Mode { reply, close_after_reply, never_reply };

  RecordingServer();
  ~RecordingServer();
  RecordingServer(const RecordingServer&) = delete;
  RecordingServer& operator=(const RecordingServer&) = delete;

  int port() const { return port_; }
  void set_reply(int status, std::string body, Mode mode = Mode::reply);
  std::vector<Request> requests();
  int connections();

 private:
  void serve();
  bool serve_connection(int fd, int index);

  int listen_fd_ = -1;
  int port_ = 0;
  std::mutex mu_;
  int status_ = 204;
  std::string body_;
  Mode mode_ = Mode::reply;
  std::vector<Request> requests_;
  int connections_ = 0;
  std::vector<int> open_fds_;
  std::thread thread_;
};

/// gunzip of `data` (throws on a bad stream).
std::string gunzip(std::string_view data);

}  // namespace gw_test
