#pragma once
// Fault, outage, crash and secrets tests: the real groupwatch binary against
// the real emulator (in-process) and a real PostgreSQL, through the shared
// harness (tests/support/); here the helpers only these tests use.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "support/emulator.hpp"
#include "support/harness.hpp"
#include "support/servers.hpp"
#include "support/window.hpp"

namespace gwfault {

using namespace gw_test;
namespace emu = groupwatch::emulator;

/// Most timestamps within any window of `w` seconds.
using groupwatch::testing::max_in_window;

/// Everything a test config needs; yaml() renders it.
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
  std::string extra_app;         // lines indented by 4
  std::string extra_top;         // top-level lines
  std::uint16_t admin_port = 0;  // 0: no admin server; else on 127.0.0.1
  std::string admin_lines;       // under admin:, indented by 2
  std::string state_dir;
  std::vector<std::string> sinks;  // each rendered by a *_sink() helper
};
std::string yaml(const Cfg& c);
/// The usual config against `e`: its endpoint, trusting its certificate
/// (written to ca.pem), watching groups.txt, state under state/, polling
/// every `interval`.
Cfg config_for(const Emulator& e, const TempDir& dir, const std::string& interval = "6s");
/// config_for(), its results written to out.ndjson.
Cfg ndjson_config_for(const Emulator& e, const TempDir& dir, const std::string& interval = "6s");
/// Writes `c` to gw.yaml and starts `groupwatch run` on it, its output in
/// gw.out and gw.err.
Process start_run(const TempDir& dir, const Cfg& c);
/// Writes `c` to gw.yaml and sends `gw` SIGHUP to reload it.
void reload(Process& gw, const TempDir& dir, const Cfg& c);
/// The admin server of `c` on a free port, with `admin_lines` under admin:
/// beside its listen line: the port.
std::uint16_t admin_on_free_port(Cfg& c, const std::string& admin_lines = "");
/// Whether gw.err says `what` within `timeout` (the log when not).
::testing::AssertionResult log_says_within(const TempDir& dir, const std::string& what,
                                           std::chrono::milliseconds timeout);
/// Whether out.ndjson holds a result within `timeout` (gw.err when not).
::testing::AssertionResult results_within(const TempDir& dir, std::chrono::milliseconds timeout);
/// SIGTERM, then exit status 0 within 30 s (gw.err shown when not).
void expect_clean_exit(Process& gw, const TempDir& dir);
std::string ndjson_sink(const std::string& path);
/// A postgres sink; `extra` holds more lines indented by 4 (delivery keys).
std::string postgres_sink(const std::string& dsn, const std::string& extra = "");

/// A tmpfs of `size` (e.g. "64k") mounted at dir/small while this lives.
/// Mounting needs CAP_SYS_ADMIN: where it fails, `why_not` says so.
struct SmallTmpfs {
  SmallTmpfs(const TempDir& dir, const std::string& size);
  ~SmallTmpfs();
  SmallTmpfs(const SmallTmpfs&) = delete;
  SmallTmpfs& operator=(const SmallTmpfs&) = delete;
  /// Writes one file into it until a write fails: the filesystem is full.
  ::testing::AssertionResult fill() const;

  std::string path;
  std::string why_not;  // empty when mounted
};

/// The group IDs of `n` emulator groups, written one a line to `name`.
std::vector<std::string> groups_into(const TempDir& dir, emu::Options& o, const std::string& name, std::size_t n,
                                     std::uint64_t seed = 1);

/// An emulator of `n` groups, their IDs also written to groups.txt.
Emulator emulator_for(const TempDir& dir, std::size_t n);

/// An emulator of `n` groups that logs every request to requests.jsonl;
/// their IDs written to groups.txt and put in `ids`.
Emulator logging_emulator_for(const TempDir& dir, std::size_t n, std::vector<std::string>& ids);

/// groupwatch running against an emulator of `n` groups, polling every
/// `interval` into out.ndjson, its admin server on port `admin`.
struct AdminRun {
  AdminRun(std::size_t n, const std::string& interval);
  TempDir dir;
  Emulator e;
  Cfg c;
  std::uint16_t admin;
  Process gw;
};

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
std::set<Key> postgres_keys(const Postgres& pg, bool ok_only);
/// Rows in `samples` (0 when the table does not exist yet).
std::size_t postgres_rows(const Postgres& pg);

/// Every UserSig `key` can give for kAppId/administrator with `ttl` seconds
/// created between t0 and t1 (unix seconds, inclusive).
std::vector<std::string> usersigs_between(std::int64_t t0, std::int64_t t1, std::int64_t ttl);

/// A log line of `log` that contains every one of `parts`, or "".
std::string log_line_with(const std::string& log, const std::vector<std::string>& parts);

}  // namespace gwfault
