#pragma once
// The one HTTP/1.1 server: Beast, one coroutine per connection, limits on
// header and body size, a deadline on every read and write, a connection
// limit that evicts the longest-idle connection, plain TCP or TLS. Used by
// the admin server, the Prometheus sink and the emulator; each supplies a
// handler and keeps its own routes.
//
// This header carries Beast's message types: include it only where a server
// is built (three files), never from a header many files include.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include "groupwatch/util/text.hpp"

namespace boost::asio {
class io_context;
namespace ssl {
class context;
}
}  // namespace boost::asio

namespace groupwatch::http {

using Request = boost::beast::http::request<boost::beast::http::string_body>;
using Reply = boost::beast::http::response<boost::beast::http::string_body>;

/// What to do with one request. A server for operators only ever replies;
/// the emulator also delays, resets and stalls to play a failing vendor.
struct Answer {
  enum class Then {
    reply,  // write `reply`; close after it unless it keeps alive
    reset,  // close with a TCP reset instead of a reply
    stall,  // say nothing for `stall`, then reset
  };
  Reply reply{};
  std::chrono::milliseconds delay{0};  // wait this long before what follows
  Then then = Then::reply;
  std::chrono::milliseconds stall{0};
};

struct ServerHandlers {
  /// Every request that was read whole. Called on the io_context thread.
  std::function<Answer(const Request&, std::uint64_t conn)> request{};
  /// A request that could not be read (400), had a header over the limit
  /// (431) or a body over it (413). The connection closes after the reply.
  /// Unset: a plain-text reason phrase.
  std::function<Reply(boost::beast::http::status, std::uint64_t conn)> unreadable{};
  /// A new connection; false resets it at once. Unset: all are taken.
  std::function<bool(std::uint64_t conn)> opened{};
  /// The TLS handshake of a connection succeeded.
  std::function<void(std::uint64_t conn)> handshaken{};
  /// A connection ended (every opened one, taken or not).
  std::function<void(std::uint64_t conn)> closed{};
};

struct ServerOptions {
  std::string name = "http server";  // in log lines about the server itself
  std::size_t max_header_bytes = 8 * 1024;
  std::size_t max_body_bytes = 1024;
  // The TLS handshake, the first request, and writing each reply must end
  // within this; later requests on a kept-alive connection may wait up to
  // idle_timeout to begin.
  std::chrono::milliseconds request_timeout = std::chrono::seconds(10);
  std::chrono::milliseconds idle_timeout = std::chrono::seconds(30);
  // At the limit the connection idle longest makes room (an idle client
  // never locks out a probe); with none idle the new one is closed.
  std::size_t max_connections = 64;
  boost::asio::ssl::context* tls = nullptr;  // set: TLS on every connection
  // The kernel stamps what each connection receives (SO_TIMESTAMPNS), and
  // request_arrived() is when a request's last bytes came, not when they
  // were read.
  bool stamp_arrivals = false;
};

/// Binding failed. what(): "cannot resolve 'HOST': ..." or "cannot listen
/// on HOST:PORT: ..." ending in the OS's words, which code() carries.
struct ListenError : std::system_error {
  using std::system_error::system_error;
};

/// Not thread-safe: every member but the constructor runs on the
/// io_context's thread (or before it runs).
class Server {
 public:
  Server(boost::asio::io_context& io, ServerHandlers handlers, ServerOptions options);
  ~Server();  // stop()
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Binds HOST:PORT (a numeric address or a name; port 0 picks one),
  /// starts accepting and returns the bound port. Throws ListenError.
  std::uint16_t listen(const std::string& host, std::uint16_t port);
  /// The same for an address as an operator writes it ("host:port",
  /// "[v6]:port"): returns it with the bound port, or throws
  /// std::runtime_error saying "WHAT: " and what is wrong with it.
  ListenAddress listen_on(std::string_view address, std::string_view what);
  /// Closes the listener and every open connection.
  void stop();
  std::uint16_t port() const;
  std::size_t connections() const;
  /// Within ServerHandlers::request: when the request's last bytes reached
  /// this host (the kernel's stamp with stamp_arrivals, else when the
  /// server read them).
  std::chrono::steady_clock::time_point request_arrived() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace groupwatch::http
