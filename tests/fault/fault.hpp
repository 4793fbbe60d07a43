#pragma once
#include <functional>
// Fault, outage, crash and secrets tests: the real groupwatch binary against
// the real emulator (in-process) and a real PostgreSQL. Builds on the
// integration harness (integration/harness.hpp) and the sink tests' server
// helpers (sink/servers.hpp); fault_support.cpp compiles both helpers' code
// into this binary.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "integration/harness.hpp"
#include "sink/servers.hpp"
#include "support/window.hpp"

namespace gwfault {

using namespace gwtest;
namespace emu = groupwatch::emulator;
namespace servers = gw_test::servers;

double now_unix();
void sleep_s(double seconds);
/// Sleeps until `offset` seconds into the next cycle of length `interval`.
void sleep_until_cycle_offset(double interval, double offset);
/// Most timestamps within any window of `w` seconds.
using groupwatch::testing::max_in_window;

/// The emulator on its own thread, on a chosen port (0 = ephemeral); stop()
/// frees the port so that another one can take it.
class Emu {
 public:
  explicit Emu(emu::Options o, std::uint16_t port = 0);
  ~Emu();
  Emu(const Emu&) = delete;
  Emu& operator=(const Emu&) = delete;
  void stop();
  std::uint16_t port() const { return port_; }
  emu::Server& server() { return *server_; }
  std::string endpoint() const { return "https://127.0.0.1:" + std::to_string(port_); }
  void write_ca(const std::string& path) const;

 private:
  boost::asio::io_context io_{1};
  std::unique_ptr<emu::Server> server_;
  std::uint16_t port_ = 0;
  std::thread thread_;
  bool stopped_ = false;
};

/// Everything a test config needs; yaml() renders it.
/// A loopback TCP port that was free a moment ago.
std::uint16_t free_port();
/// Polls `done` every 50 ms until it holds or `limit` passes.
bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit);
/// How often `what` occurs in `text`.
std::size_t count_of(const std::string& text, const std::string& what);

struct Cfg {
  std::string endpoint;
  std::string ca_file;                                      // empty: none
  std::string secret = std::string("secret_key: ") + kKey;  // the app's key line
  double qps = 200;
  std::string groups_file;
  std::string interval = "6s";
  std::string timeout = "4s";
  int retries = -1;  // -1: default
  std::string grace;
  std::string extra_app;  // lines indented by 4
  std::string extra_top;  // top-level lines
  std::string state_dir;
  std::vector<std::string> sinks;  // each rendered by a *_sink() helper
};
std::string yaml(const Cfg& c);
/// The usual config against `e`: its endpoint, trusting its certificate
/// (written to ca.pem), watching groups.txt, state under state/.
Cfg config_for(const Emu& e, const TempDir& dir);
std::string ndjson_sink(const std::string& path);
/// A postgres sink; `extra` holds more lines indented by 4 (delivery keys).
std::string postgres_sink(const std::string& dsn, const std::string& extra = "");

/// The group IDs of `n` emulator groups, written one a line to `name`.
std::vector<std::string> groups_into(const TempDir& dir, emu::Options& o, const std::string& name, std::size_t n,
                                     std::uint64_t seed = 1);

/// Each group's slot offset (seconds) within a cycle of `interval` seconds,
/// as the engine plans them: a result belongs to the cycle of its slot.
std::map<std::string, double> slot_offsets(std::vector<std::string> ids, double interval);

/// (group_id, time) pairs of the ndjson results, by error code 0 / other.
struct Key {
  std::string group;
  std::string time;
  auto operator<=>(const Key&) const = default;
};
std::set<Key> ndjson_keys(const std::string& path, bool ok_only);
/// The same from the postgres sink's table `samples`.
std::set<Key> postgres_keys(const servers::Postgres& pg, bool ok_only);
/// Rows in `samples` (0 when the table does not exist yet).
std::size_t postgres_rows(const servers::Postgres& pg);

/// Every UserSig `key` can give for kAppId/administrator with `ttl` seconds
/// created between t0 and t1 (unix seconds, inclusive).
std::vector<std::string> usersigs_between(std::int64_t t0, std::int64_t t1, std::int64_t ttl);

/// `curl -s URL`'s output ("" on failure).
std::string http_get(const std::string& url);

/// A log line of `log` that contains every one of `parts`, or "".
std::string log_line_with(const std::string& log, const std::vector<std::string>& parts);

}  // namespace gwfault
