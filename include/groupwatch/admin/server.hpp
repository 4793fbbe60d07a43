#pragma once
// The admin HTTP server: /metrics, /healthz, /readyz, the status page (/)
// and the JSON it polls (/api/status). It knows nothing about the engine:
// the app layer hands it a Provider. Runs on the daemon's io_context; Beast
// stays behind the pimpl.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include <string_view>
#include "groupwatch/util/text.hpp"

namespace boost::asio {
class io_context;
}

namespace groupwatch::admin {

struct Readiness {
  bool ready = false;
  std::string reason;  // why not, for the 503 body
};

/// What the server serves, supplied by the app layer. Every function is
/// called on the io_context thread.
struct Provider {
  std::function<std::string()> metrics;      // Prometheus text format 0.0.4
  std::function<std::string()> status_json;  // for /api/status
  std::function<Readiness()> readiness;
};

struct Options {
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 1024;                                     // the admin API takes no bodies
  std::chrono::milliseconds request_timeout = std::chrono::seconds(10);  // read + write of one request
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);     // keep-alive between requests
  std::size_t max_connections = 64;
};

using groupwatch::ListenAddress;
using groupwatch::parse_listen;
/// True for 127.0.0.0/8, ::1 and "localhost".
bool is_loopback(std::string_view host);

class Server {
 public:
  Server(boost::asio::io_context& io, std::string listen, Provider provider, Options options = {});
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds and starts accepting; returns the bound port. Logs a warning when
  /// the address is not loopback. Throws std::runtime_error when the address
  /// is malformed or cannot be bound.
  std::uint16_t start();
  /// Closes the listener and every open connection.
  void stop();
  std::uint16_t port() const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace groupwatch::admin
