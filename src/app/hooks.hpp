#pragma once
// What `run` does beside polling: systemd notifications and watchdog, and
// (when admin.listen is set) the admin HTTP server with its status page.
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "app/loop_lag.hpp"
#include "groupwatch/app/engine.hpp"
#include "groupwatch/config/config.hpp"
#include "groupwatch/sink/fanout.hpp"

namespace groupwatch::admin {
class Server;
}

namespace groupwatch::app {

class RunHooks {
 public:
  RunHooks(boost::asio::io_context& io, Engine& engine, const config::Config& cfg, sink::Fanout& fanout);
  ~RunHooks();
  /// Binds admin.listen (when set). Throws naming the address when it cannot
  /// (a busy port): a start-up error, exit 2.
  void listen();
  void ready();
  /// For a reload that changes admin.listen: the new server, already
  /// listening (null when the address stays). Throws like listen(), before
  /// anything is applied, so a busy port refuses the reload.
  std::unique_ptr<admin::Server> prepare_listen(const std::string& listen);
  void reloaded(const config::Config& cfg, std::unique_ptr<admin::Server> server);
  void stopping();
  void close();
  /// Every final result, on the io_context thread (feeds the status page's
  /// top groups and parked groups).
  void observe(const sink::Result& r);
  /// The admin server's port once it listens (0 when off).
  std::uint16_t admin_port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The status page's per-group view, kept cheap: the latest count and the
/// last few counts of the top groups only (a bounded candidate set, not a
/// history per group), and the parked groups with their reason.
class GroupBoard {
 public:
  struct Top {
    std::string app;
    std::string group_id;
    std::uint64_t count = 0;
    std::vector<std::uint64_t> history;  // oldest first, the latest last
  };
  struct Parked {
    std::string app;
    std::string group_id;
    std::int64_t code = 0;
    std::string reason;
    std::chrono::system_clock::time_point time;
  };

  explicit GroupBoard(std::size_t top = 20, std::size_t history = 10, std::size_t parked_max = 200);
  void observe(const sink::Result& r);
  /// By count, highest first; at most `top` entries.
  std::vector<Top> top() const;
  /// Newest first.
  std::vector<Parked> parked() const;
  std::size_t candidates() const { return candidates_.size(); }

 private:
  std::size_t top_n_, history_n_, parked_max_;
  std::map<std::string, Top> candidates_;  // key app + '\n' + group_id; at most 2 * top
  std::deque<Parked> parked_;              // oldest first; at most parked_max
};

/// The daemon's self-metrics in the Prometheus text format (for /metrics).
std::string render_metrics(const std::vector<AppMetrics>& apps, const std::vector<sink::SinkStats>& sinks,
                           const LagStats* lag = nullptr);

/// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. No-op
/// when not started by systemd.
void sd_notify(const char* state);

}  // namespace groupwatch::app
