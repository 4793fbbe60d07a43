#pragma once
// What `run` does beside polling: systemd notifications and watchdog, and
// (when admin.listen is set) the admin HTTP server.
#include <memory>

#include <boost/asio/io_context.hpp>

#include "groupwatch/app/engine.hpp"
#include "groupwatch/config/config.hpp"
#include "groupwatch/sink/fanout.hpp"

namespace groupwatch::app {

class RunHooks {
 public:
  RunHooks(boost::asio::io_context& io, Engine& engine, const config::Config& cfg, sink::Fanout& fanout);
  ~RunHooks();
  void ready();
  void reloaded(const config::Config& cfg);
  void stopping();
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. No-op
/// when not started by systemd.
void sd_notify(const char* state);

}  // namespace groupwatch::app
