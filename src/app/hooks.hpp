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

#include "app/board.hpp"
#include "app/loop_lag.hpp"
#include "app/metrics.hpp"
#include "app/systemd.hpp"
#include "groupwatch/app/engine.hpp"
#include "groupwatch/config/config.hpp"
#include "groupwatch/delivery/fanout.hpp"

namespace groupwatch::admin {
class Server;
}
namespace groupwatch::cluster {
class Coordinator;
}

namespace groupwatch::app {

class RunHooks {
 public:
  RunHooks(boost::asio::io_context& io, Engine& engine, const config::Config& cfg, delivery::Fanout& fanout);
  ~RunHooks();
  /// Binds admin.listen (when set). Throws naming the address when it cannot
  /// (a busy port): a start-up error, exit 2.
  void listen();
  void ready();
  /// Cluster: /readyz, /metrics and the status page say what it holds.
  void set_cluster(const cluster::Coordinator* c);
  /// For a reload that changes admin.listen: the new server, already
  /// listening (null when the address stays). Throws like listen(), before
  /// anything is applied, so a busy port refuses the reload.
  std::unique_ptr<admin::Server> prepare_listen(const std::string& listen);
  void reloaded(const config::Config& cfg, std::unique_ptr<admin::Server> server);
  void stopping();
  void close();
  /// Every final result, on the io_context thread (feeds the status page's
  /// top groups and parked groups).
  void observe(const delivery::Result& r);
  /// The admin server's port once it listens (0 when off).
  std::uint16_t admin_port() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace groupwatch::app
