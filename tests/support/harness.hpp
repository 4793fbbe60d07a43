// The harness every stage's tests share: throwaway directories, files, free
// loopback ports, polling, the clock, and child processes (one that runs
// beside the test, and one run to completion). The real servers are in
// support/servers.hpp, the in-process emulator in support/emulator.hpp.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "support/spawn.hpp"

namespace gw_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// A fresh directory under the temp dir (`prefix`-XXXXXX), removed with
/// everything in it on destruction unless GW_KEEP_TMP is set.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "gw-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const fs::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  /// Writes `text` to `name` in the directory (created or truncated).
  void write(const std::string& name, const std::string& text) const;

 private:
  fs::path path_;
};

/// The whole file; "" when it cannot be read (not written yet).
std::string read_file(const fs::path& path);
/// The non-empty lines of `text`.
std::vector<std::string> lines_of(const std::string& text);
/// How often `what` occurs in `text`.
std::size_t count_of(const std::string& text, const std::string& what);
/// Those of `parts` that `text` does not contain, in order:
/// EXPECT_THAT(missing_from(text, {...}), IsEmpty()) << text;
std::vector<std::string> missing_from(const std::string& text, std::initializer_list<std::string_view> parts);

/// What `f` throws as std::runtime_error (its what()), or "(nothing thrown)".
std::string thrown_by(const std::function<void()>& f);

/// A loopback TCP port that was free a moment ago.
std::uint16_t free_port();

/// Polls `done` every `every` until it holds or `limit` passes; its last answer.
bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit,
              std::chrono::milliseconds every = 50ms);

/// The wall clock in unix seconds.
double now_unix();
void sleep_s(double seconds);
/// Sleeps until `offset` seconds into the next cycle of length `interval`.
void sleep_until_cycle_offset(double interval, double offset);

/// A child process beside the test (started with support/spawn.hpp). The
/// destructor kills it (SIGKILL) if it still runs; stop() ends it gently.
class Process {
 public:
  /// stdout and stderr to files (created, truncated); `env` on top of the test's.
  Process(const std::vector<std::string>& argv, const std::string& out_file, const std::string& err_file,
          const std::map<std::string, std::string>& env = {});
  /// Throws std::system_error when argv[0] cannot be started.
  Process(const std::vector<std::string>& argv, const groupwatch::testing::SpawnOptions& options);
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  /// Waits up to `timeout`: the exit status (128 + signal when killed by
  /// one), or -1 while it still runs.
  int wait(std::chrono::milliseconds timeout);
  bool running() { return wait(0ms) == -1; }
  /// SIGTERM, up to `grace` to exit, then SIGKILL: the exit status.
  int stop(std::chrono::milliseconds grace = 10s);

 private:
  pid_t pid_ = -1;
  bool done_ = false;
  int status_ = -1;
};

/// What run() gives: the exit status (128 + signal when killed by one, -1
/// when it ran out of time, 127 when it could not start) and the output.
struct RunResult {
  int status = -1;
  std::string out;
  std::string err;  // empty with merge_output
};
struct RunOptions {
  std::chrono::milliseconds timeout = 120s;     // then it is killed
  std::map<std::string, std::string> env = {};  // on top of the test's
  bool merge_output = false;                    // stderr into `out`, in order
};
/// Runs argv (argv[0] looked up in PATH unless it has a slash) to completion
/// with stdin on /dev/null.
RunResult run(const std::vector<std::string>& argv, const RunOptions& options = {});

}  // namespace gw_test
