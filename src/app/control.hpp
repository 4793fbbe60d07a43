#pragma once
// The daemon's local door for its own tools, under state_dir:
// - groupwatch.lock: one `run` per state_dir (flock), holding its pid;
// - groupwatch.sock: `query` and `once` started beside a running daemon send
//   their requests through it, so every request for an SDKAppID still takes
//   a permit from the daemon's one limiter for it.
// Private to the app stage.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "groupwatch/app/engine.hpp"
#include "groupwatch/delivery/result.hpp"

namespace groupwatch::app {

/// Holds state_dir's lock while alive.
class StateLock {
 public:
  /// Takes the lock, creating state_dir when missing. On failure returns
  /// nullptr and sets `error` (naming the pid that holds it, when known).
  static std::unique_ptr<StateLock> take(const std::string& state_dir, std::string& error);
  ~StateLock();
  StateLock(const StateLock&) = delete;
  StateLock& operator=(const StateLock&) = delete;

 private:
  explicit StateLock(int fd) : fd_(fd) {}
  int fd_;
};

std::string control_socket_path(const std::string& state_dir);

/// Serves the control socket on `io` for `engine` until destroyed.
class ControlServer {
 public:
  /// Throws std::runtime_error when the socket cannot be created.
  ControlServer(boost::asio::io_context& io, Engine& engine, const std::string& state_dir);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

/// Client side: asks the daemon on `state_dir` to poll `groups` for the
/// budget `key`. nullopt when no daemon answers there or it does not poll
/// that key (the caller then polls on its own). Blocks until the daemon has
/// answered every group.
/// Client side of `discover`: the daemon on `state_dir` lists every group
/// of the budget `key` through its discovery limiters. nullopt when no daemon
/// answers there or it has no app with that key; ok false with `error` when
/// its listing failed.
struct DaemonListing {
  bool ok = false;
  std::string error;
  std::vector<Engine::ListedGroup> groups;
};
std::optional<DaemonListing> list_via_daemon(const std::string& state_dir, const std::string& key);

std::optional<std::vector<delivery::Result>> ask_daemon(const std::string& state_dir, const std::string& key,
                                                        const std::vector<std::string>& groups);

}  // namespace groupwatch::app
