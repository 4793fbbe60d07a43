#pragma once
// A pool of keep-alive HTTP/1.1 connections (TLS by default) to one endpoint.
// Beast and Asio.SSL stay in the .cpp: this header only needs awaitable.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

namespace groupwatch::http {

struct PoolOptions {
  std::string host;
  std::string port = "443";
  bool tls = true;
  bool verify = true;   // verify_peer + host name verification
  std::string ca_file;  // extra trust anchors (PEM), system roots stay
  std::size_t max_connections = 8;
  std::chrono::milliseconds timeout{5000};              // one request: connect to last byte
  std::chrono::milliseconds idle_timeout{30000};        // idle connections are closed after this
  std::size_t max_body_bytes = std::size_t{64} * 1024;  // larger answers fail with too_large
};

enum class Failure {
  none,
  resolve,    // DNS
  connect,    // TCP connect refused / unreachable
  tls,        // handshake or verification failed
  timeout,    // any step past the deadline
  reset,      // connection reset / closed mid-exchange
  protocol,   // malformed HTTP
  too_large,  // answer body over max_body_bytes
  cancelled,  // pool shut down
};
const char* to_string(Failure f);

struct Response {
  Failure failure = Failure::none;
  std::string detail;   // why it failed (no secrets: the target is never included)
  unsigned status = 0;  // HTTP status when failure == none
  std::string body;
};

struct PoolStats {
  std::uint64_t connections_opened = 0;  // TCP connections established
  std::uint64_t handshakes = 0;          // TLS handshakes completed
  std::uint64_t requests = 0;            // requests sent (a stale-connection retry counts twice)
  std::size_t open = 0;                  // currently open (in use, idle, or being opened)
  std::size_t idle = 0;                  // currently idle
};

/// Not thread-safe: post(), shutdown() and stats() must all run on the
/// pool's executor (an io_context run by one thread, or a strand).
/// A connection that failed, got `Connection: close`, or sat idle longer than
/// idle_timeout is closed instead of reused. A reused keep-alive connection
/// that fails before any answer byte arrived (the server closed it while it
/// was idle) is retried once on a fresh connection.
class Pool {
 public:
  /// Throws std::invalid_argument for an empty host or max_connections == 0
  /// and std::runtime_error when ca_file cannot be loaded.
  Pool(boost::asio::any_io_executor ex, PoolOptions opts);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// POSTs `body` (application/json) to `target`. Waits for a free connection
  /// (counted inside the deadline), opens one when below max_connections,
  /// returns it to the pool afterwards unless it failed or the server closes.
  /// Never throws for network trouble: failures come back in Response.
  boost::asio::awaitable<Response> post(std::string target, std::string body);

  /// Closes idle connections and makes waiting and future posts fail with
  /// Failure::cancelled.
  void shutdown();

  /// Opens one connection ahead of need (when below max_connections) and
  /// parks it idle; `done(ok)` runs on the pool's executor afterwards.
  void warm(std::function<void(bool)> done);
  /// Idle connections ready to carry a request at once.
  std::size_t idle_count() const;
  /// True while another connection may be opened.
  bool can_open() const;

  PoolStats stats() const;
  const PoolOptions& options() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace groupwatch::http
