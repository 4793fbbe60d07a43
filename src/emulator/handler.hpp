#pragma once
// The emulator's request handling without sockets: what a connection does
// with the bytes it reads, for the fuzzer (tests/fuzz) and tests. Private to
// the emulator (not under include/): Beast stays out of it.
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "groupwatch/emulator/server.hpp"

namespace groupwatch::emulator {

/// What the server does with one request.
struct Handled {
  enum class Action : std::uint8_t { reply, reset, stall };
  Action action = Action::reply;
  unsigned status = 200;
  std::string content_type;
  std::string body;
  bool close = false;  // the connection is closed after the reply
  std::chrono::milliseconds delay{0};
};

/// A server's state and request handling, never bound to a socket. Options as
/// for Server (TLS settings are ignored); throws as Server does.
class Handler {
 public:
  explicit Handler(Options options);
  ~Handler();
  Handler(const Handler&) = delete;
  Handler& operator=(const Handler&) = delete;

  /// One request: `method` as in the request line ("POST"), the target, the
  /// body, and whether the client keeps the connection alive.
  Handled handle(std::string_view method, std::string_view target, std::string_view body, bool keep_alive = true);

  /// Raw bytes as one connection would read them before the peer closes:
  /// parsed with the server's request parser and limits, one answer per
  /// request, ending after an unparsable request (400/413), a reset or
  /// stall, or a reply that closes the connection.
  std::vector<Handled> handle_bytes(std::string_view bytes);

  Stats stats(bool with_groups = false) const;

 private:
  std::unique_ptr<boost::asio::io_context> ioc_;
  std::shared_ptr<Server::Impl> impl_;
};

}  // namespace groupwatch::emulator
