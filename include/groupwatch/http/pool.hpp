#pragma once
// A pool of keep-alive HTTP/1.1 connections (TLS by default) to one endpoint.
// Beast and Asio.SSL stay in the .cpp: this header only needs awaitable.
#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

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
  // An HTTP proxy to tunnel through (CONNECT host:port; TLS stays end to end
  // with `host`). Empty: direct.
  std::string proxy_host;
  std::string proxy_port;
  // Added to the User-Agent as "groupwatch/VERSION (NOTE)": a cluster
  // instance's name, so the server can tell instances apart. No CR or LF.
  std::string agent_note;
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

/// Spare capacity the pool leaves after an answer's body: simdjson's padding,
/// so the body can be parsed where it lies.
inline constexpr std::size_t kBodyPadding = 64;

struct Response {
  Failure failure = Failure::none;
  std::string detail;                      // why it failed (no secrets: the target is never included)
  unsigned status = 0;                     // HTTP status when failure == none
  std::string body;                        // capacity() >= size() + kBodyPadding when Content-Length was given
  bool permit = false;                     // the gate admitted the request (a permit was taken)
  bool sent = false;                       // the request was written to a socket
  std::chrono::nanoseconds since_sent{0};  // from the end of the write to the end of the answer
  bool stale = false;                      // a reused keep-alive connection failed before any answer byte:
                                           // the server most likely closed it while idle
};

/// What a request other than the vendor's JSON POST carries.
struct RequestHead {
  std::string content_type = "application/json";
  std::string headers;  // extra header lines, each "Name: value\r\n"
};

/// Decides when a request may be written. The pool asks it once per request,
/// with the connection ready to write (connected, TLS handshaken), and writes
/// at once when admitted: nothing but the write lies between the permit and
/// the bytes leaving. Every admitted request is then reported once with
/// sent(), when its write ended (or when it gave up without writing), so the
/// gate can count it from when its bytes left. Runs on the pool's executor.
class Gate {
 public:
  class Waiter {
   public:
    virtual void admitted() = 0;  // the gate took a permit for this waiter

   protected:
    ~Waiter() = default;
  };
  virtual ~Gate() = default;
  /// Takes a permit now when one is free and nobody is queued before us.
  virtual bool try_admit() = 0;
  /// Queues `w`; at its turn the gate takes a permit and calls w->admitted().
  virtual void enqueue(Waiter* w) = 0;
  /// Removes a waiter that gave up before its turn (deadline, shutdown).
  virtual void dequeue(Waiter* w) = 0;
  /// The write of an admitted request ended, now (with or without an error):
  /// its bytes have left. Called exactly once per permit.
  virtual void sent() = 0;
  /// Asked right before the write of an admitted request, after its
  /// coroutine resumed: false ends the request unsent (Failure::cancelled;
  /// the permit ends with sent()). A fenced cluster instance says false
  /// here even for a request admitted before it lost its SDKAppID.
  virtual bool may_write() { return true; }
};

struct PoolStats {
  std::uint64_t connections_opened = 0;  // TCP connections established
  std::uint64_t handshakes = 0;          // TLS handshakes completed
  std::uint64_t requests = 0;            // requests written to a socket
  std::size_t open = 0;                  // currently open (in use, idle, or being opened)
  std::size_t idle = 0;                  // currently idle
};

/// Text in up to four pieces, written one after another: the hot path hands
/// a request's target and body over without joining them into a string.
struct Text {
  std::array<std::string_view, 4> parts{};
  std::size_t size() const {
    std::size_t n = 0;
    for (auto p : parts) n += p.size();
    return n;
  }
};

/// Not thread-safe: post(), send(), shutdown() and stats() must all run on the
/// pool's executor (an io_context run by one thread, or a strand).
/// A connection that failed, got `Connection: close`, or sat idle longer than
/// idle_timeout is closed instead of reused. The pool never sends a request
/// twice: a reused keep-alive connection that fails before any answer byte
/// arrived comes back as Response::stale, for the caller to retry with a new
/// permit (the server may have counted the first copy).
class Pool {
 public:
  /// Throws std::invalid_argument for an empty host or max_connections == 0
  /// and std::runtime_error when ca_file cannot be loaded.
  Pool(boost::asio::any_io_executor ex, PoolOptions opts);
  ~Pool();
  Pool(const Pool&) = delete;
  Pool& operator=(const Pool&) = delete;

  /// POSTs `body` (application/json) to `target`. Waits for a free connection
  /// and opens one when below max_connections (within `timeout`), then waits
  /// for `gate` (when given) to admit the request, then writes it; the
  /// exchange has its own `timeout` from the write. Returns the connection to
  /// the pool afterwards unless it failed or the server closes.
  /// Never throws for network trouble: failures come back in Response.
  /// `head` (when given, it must outlive the call) sets the content type
  /// and adds header lines, for requests other than the vendor's JSON.
  boost::asio::awaitable<Response> post(std::string target, std::string body, Gate* gate = nullptr,
                                        const RequestHead* head = nullptr);
  /// The same without a copy of the target and body: every piece must stay
  /// valid until the returned awaitable completes (the caller's coroutine
  /// holds them while it awaits).
  boost::asio::awaitable<Response> send(Text target, Text body, Gate* gate = nullptr,
                                        const RequestHead* head = nullptr);

  /// Gives an answer's body back when the caller is done with it: the next
  /// answer is read into it instead of a new string. Keeps at most one per
  /// connection, each of a few KiB at most.
  void recycle(std::string&& body);

  /// Closes idle connections and makes waiting and future posts fail with
  /// Failure::cancelled.
  void shutdown();

  PoolStats stats() const;
  const PoolOptions& options() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace groupwatch::http
