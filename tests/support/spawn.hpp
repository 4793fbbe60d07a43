// Starting a child process from a test, the one way every test does it.
//
// Test processes are multithreaded (an emulator, sink workers), so nothing
// may allocate between fork and exec: a child that inherits a held malloc
// lock hangs before exec, and a signal meant for the daemon kills the stuck
// copy of the test instead. posix_spawn prepares everything in the parent.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>
#include <vector>

namespace groupwatch::testing {

struct Stdio {
  /// A file to write to (created, truncated), or empty with the fd below.
  std::string out_file;
  std::string err_file;
  /// A descriptor for stdout/stderr when no file is named (-1: inherit).
  int out_fd = -1;
  int err_fd = -1;
};

struct SpawnOptions {
  Stdio stdio;
  /// Set (or replaced) in the child's environment on top of the test's.
  std::map<std::string, std::string> env;
  /// Look argv[0] up in PATH.
  bool search_path = false;
};

/// Starts argv with stdin on /dev/null and every descriptor above 2 closed.
/// Throws std::system_error when the program cannot be started.
pid_t spawn(const std::vector<std::string>& argv, const SpawnOptions& options);

/// Whether process `pid` blocks or catches `sig` now (from /proc/PID/status):
/// a test that means to signal a program after it has taken charge of its
/// signals waits for this rather than for a fixed time.
bool takes_signal(pid_t pid, int sig);

}  // namespace groupwatch::testing
