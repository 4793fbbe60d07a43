#pragma once
// Integration-test harness: the real emulator (in-process, on its own
// thread, real TLS on a loopback port) and the real groupwatch binary as a
// child process, with a throwaway directory for configs and outputs.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <simdjson.h>
#include <boost/asio/io_context.hpp>

#include "groupwatch/emulator/server.hpp"
#include "support/spawn.hpp"

namespace gwtest {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

inline constexpr const char* kKey = "integration-secret-key-0123456789";
inline constexpr std::uint64_t kAppId = 1400000001;

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "gwtest-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    if (!std::getenv("GW_KEEP_TMP")) fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  void write(const std::string& name, const std::string& text) const {
    std::ofstream(path_ / name, std::ios::trunc) << text;
  }

 private:
  fs::path path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream ss(text);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty()) out.push_back(line);
  return out;
}

/// The emulator on its own io_context thread.
class Emulator {
 public:
  explicit Emulator(groupwatch::emulator::Options o) {
    o.address = "127.0.0.1";
    o.port = 0;
    if (o.apps.empty()) o.apps.push_back({kAppId, kKey, "administrator", 200});
    server_ = std::make_unique<groupwatch::emulator::Server>(io_, std::move(o));
    port_ = server_->start();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~Emulator() {
    server_->stop();
    io_.stop();
    thread_.join();
  }
  std::uint16_t port() const { return port_; }
  groupwatch::emulator::Server& server() { return *server_; }
  std::string endpoint() const { return "https://127.0.0.1:" + std::to_string(port_); }
  void write_ca(const std::string& path) const { std::ofstream(path) << server_->ca_pem(); }

 private:
  boost::asio::io_context io_{1};
  std::unique_ptr<groupwatch::emulator::Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
};

/// A child process with stdout and stderr captured to files.
class Process {
 public:
  Process(std::vector<std::string> argv, const std::string& out_file, const std::string& err_file,
          std::map<std::string, std::string> env = {}) {
    groupwatch::testing::SpawnOptions so;
    so.stdio.out_file = out_file;
    so.stdio.err_file = err_file;
    so.env = std::move(env);
    pid_ = groupwatch::testing::spawn(argv, so);
  }
  ~Process() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  void signal(int sig) const { ::kill(pid_, sig); }
  /// Waits up to `timeout`; returns the exit status, or -1 on timeout, or
  /// 128+signal when killed by a signal.
  int wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        if (WIFEXITED(st)) return WEXITSTATUS(st);
        if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
        return -2;
      }
      std::this_thread::sleep_for(10ms);
    }
    return -1;
  }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
};

/// Runs a command to completion (for check, once, query, usersig).
struct RunResult {
  int status;
  std::string out;
  std::string err;
};
inline RunResult run(const TempDir& dir, std::vector<std::string> argv, std::chrono::milliseconds timeout = 120s,
                     std::map<std::string, std::string> env = {}) {
  static int n = 0;
  std::string o = dir.file("run" + std::to_string(n) + ".out"), e = dir.file("run" + std::to_string(n) + ".err");
  ++n;
  Process p(std::move(argv), o, e, std::move(env));
  int st = p.wait(timeout);
  return {st, read_file(o), read_file(e)};
}

/// A config for one app against the emulator, with an ndjson sink to `ndjson`.
inline std::string app_config(const Emulator& emu, const TempDir& dir, const std::string& groups_file, double qps,
                              const std::string& interval, const std::string& extra_poll = "",
                              const std::string& extra_app = "") {
  std::string ca = dir.file("ca.pem");
  emu.write_ca(ca);
  std::ostringstream y;
  y << "apps:\n"
    << "  - name: test\n"
    << "    sdkappid: " << kAppId << "\n"
    << "    admin: administrator\n"
    << "    secret_key: " << kKey << "\n"
    << "    endpoint: " << emu.endpoint() << "\n"
    << "    ca_file: " << ca << "\n"
    << "    qps: " << qps << "\n"
    << "    group_files: [" << groups_file << "]\n"
    << extra_app << "poll:\n"
    << "  interval: " << interval << "\n"
    << "  timeout: 4s\n"
    << extra_poll << "state_dir: " << dir.file("state") << "\n"
    << "sinks:\n"
    << "  - type: ndjson\n"
    << "    path: " << dir.file("out.ndjson") << "\n"
    << "    flush_interval: 100ms\n";
  return y.str();
}

inline std::vector<std::string> write_groups(const TempDir& dir, const std::string& name, std::size_t n,
                                             std::uint64_t seed = 1) {
  auto ids = groupwatch::emulator::generate_group_ids(n, seed);
  std::ofstream f(dir.path() / name);
  for (auto& id : ids) f << id << "\n";
  return ids;
}

/// One parsed NDJSON result line.
struct Line {
  std::string group_id;
  std::int64_t error_code = 0;
  bool has_count = false;
  std::string time;
  std::string group_name;  // "" when null
  std::string app;
};
inline std::vector<Line> parse_ndjson(const std::string& path, std::size_t* bad_lines = nullptr) {
  std::vector<Line> out;
  simdjson::ondemand::parser parser;
  std::string text = read_file(path);
  if (bad_lines) *bad_lines = 0;
  if (!text.empty() && text.back() != '\n' && bad_lines) ++*bad_lines;  // a partial last line
  for (auto& l : lines_of(text)) {
    simdjson::padded_string p(l);
    Line r;
    try {
      auto doc = parser.iterate(p);
      r.time = std::string(std::string_view(doc["time"]));
      r.group_id = std::string(std::string_view(doc["group_id"]));
      auto n = doc["online_member_num"];
      r.has_count = !n.is_null();
      r.error_code = std::int64_t(doc["error_code"]);
      if (auto name = doc.find_field_unordered("group_name"); !name.error() && !name.is_null())
        r.group_name = std::string(std::string_view(name.value()));
      if (auto app = doc.find_field_unordered("app"); !app.error()) r.app = std::string(std::string_view(app.value()));
    } catch (const simdjson::simdjson_error&) {
      if (bad_lines) ++*bad_lines;
      continue;
    }
    out.push_back(r);
  }
  return out;
}

/// One request-log line of the emulator.
struct Req {
  double t = 0;  // unix seconds
  std::string group;
  std::int64_t code = 0;
  std::uint64_t conn = 0;  // the emulator's connection number
};
std::vector<Req> parse_request_log(const std::string& path);
double parse_rfc3339(std::string_view s);

}  // namespace gwtest
