#pragma once
// Real PostgreSQL / InfluxDB servers on loopback for the sink integration
// tests (through scripts/servers/*), and a tiny recording HTTP server for the
// request forms no real server here can answer (InfluxDB v2).
#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace gw_test::servers {

struct RunResult {
  int status = -1;     // exit status, or -1 when it did not exit normally
  std::string output;  // stdout and stderr together
};
/// Runs argv[0] (PATH searched) without a shell and waits for it.
RunResult run(const std::vector<std::string>& argv);

/// A loopback TCP port free at the time of the call.
int free_port();
/// A fresh directory under the temp dir.
std::string make_temp_dir(std::string_view prefix);

/// Empty when the server can be started here, otherwise why not.
std::string postgres_unavailable();
std::string influxdb_unavailable();

/// A throwaway PostgreSQL 15 (superuser gw, trust auth). Stopped and
/// removed by the destructor.
class Postgres {
 public:
  Postgres();
  ~Postgres();
  Postgres(const Postgres&) = delete;
  Postgres& operator=(const Postgres&) = delete;

  void start();                   // throws with the script's output
  void stop(bool crash = false);  // crash: pg_ctl -m immediate
  int port() const { return port_; }
  std::string dsn() const;  // key=value form
  /// `psql -Atc sql`; throws on failure; the output without the last newline.
  std::string psql(const std::string& sql) const;

 private:
  std::string dir_;
  int port_;
};

/// A throwaway InfluxDB 1.x. Stopped and removed by the destructor.
class Influx {
 public:
  Influx();
  ~Influx();
  Influx(const Influx&) = delete;
  Influx& operator=(const Influx&) = delete;

  void start();
  void stop();
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  /// POST /query with q (e.g. CREATE DATABASE); throws unless 200.
  void command(const std::string& q);
  /// GET /query?db=..&epoch=ms&q=..: the JSON answer; throws unless 200.
  std::string query(const std::string& db, const std::string& q);

 private:
  std::string dir_;
  int port_;
  int rpc_port_;
};

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

}  // namespace gw_test::servers
