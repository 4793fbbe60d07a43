// The one HTTP/1.1 server (see server.hpp): an accept loop and a coroutine
// per connection that reads a request, asks the handler, and writes what
// it says, with a deadline on every step.
#include "groupwatch/http/server.hpp"

#include <algorithm>
#include <map>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include "groupwatch/util/log.hpp"

namespace groupwatch::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;
using SteadyClock = std::chrono::steady_clock;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

void reset_socket(tcp::socket& s) {
  beast::error_code ec;
  s.set_option(asio::socket_base::linger(true, 0), ec);
  s.close(ec);
}

// The status to answer an unreadable request with; none when there is no
// one to answer (the peer left, timed out, or TLS failed).
std::optional<bhttp::status> unreadable_status(const beast::error_code& ec) {
  if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow)
    return bhttp::status::request_header_fields_too_large;
  if (ec == bhttp::error::body_limit) return bhttp::status::payload_too_large;
  if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category())
    return bhttp::status::bad_request;
  return std::nullopt;
}

Reply plain_reply(bhttp::status status) {
  Reply res{status, 11};
  res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
  res.body() = std::string(bhttp::obsolete_reason(status)) + "\n";
  return res;
}

asio::awaitable<void> graceful_close(beast::tcp_stream& s, std::chrono::milliseconds) {
  beast::error_code ec;
  s.socket().shutdown(tcp::socket::shutdown_send, ec);
  co_return;
}

asio::awaitable<void> graceful_close(beast::ssl_stream<beast::tcp_stream>& s, std::chrono::milliseconds limit) {
  beast::get_lowest_layer(s).expires_after(limit);
  co_await s.async_shutdown(use_tuple);
}

// After an error reply the client may still be sending: read and drop it for
// a moment so that closing does not turn into a reset that eats the reply.
template <class Stream>
asio::awaitable<void> drain(Stream& stream) {
  std::array<char, 4096> scratch;
  std::size_t total = 0;
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
  while (total < 1024 * 1024) {
    auto [ec, n] = co_await stream.async_read_some(asio::buffer(scratch), use_tuple);
    if (ec) break;
    total += n;
  }
}

}  // namespace

struct Server::Impl : std::enable_shared_from_this<Impl> {
  struct Conn {
    asio::steady_timer timer;              // an answer's delay or stall
    std::function<void()> close;           // closes the socket: what waits on it ends
    SteadyClock::time_point idle_since{};  // waiting for a request since (epoch: busy)
  };

  asio::io_context& io;
  ServerHandlers h;
  ServerOptions o;
  tcp::acceptor acceptor;
  std::uint16_t bound = 0;
  bool stopped = false;
  std::uint64_t next_id = 1;
  std::map<std::uint64_t, Conn*> conns;

  Impl(asio::io_context& i, ServerHandlers hs, ServerOptions os)
      : io(i), h(std::move(hs)), o(std::move(os)), acceptor(i) {}

  auto reporter() const {
    return [name = o.name](std::exception_ptr e) { log::task_ended(e, name); };
  }

  bool evict_idle() {
    Conn* oldest = nullptr;
    for (auto& [id, c] : conns) {
      if (c->idle_since != SteadyClock::time_point{} && (!oldest || c->idle_since < oldest->idle_since)) oldest = c;
    }
    if (!oldest) return false;
    oldest->idle_since = {};  // being closed
    if (oldest->close) oldest->close();
    return true;
  }

  void stop() {
    stopped = true;
    beast::error_code ec;
    acceptor.close(ec);
    for (auto& [id, c] : conns) {
      c->timer.cancel();
      if (c->close) c->close();
    }
  }

  static asio::awaitable<void> accept_loop(std::shared_ptr<Impl> self) {
    while (!self->stopped) {
      auto [ec, sock] = co_await self->acceptor.async_accept(use_tuple);
      if (self->stopped || !self->acceptor.is_open()) co_return;
      if (ec) {
        // Out of descriptors and the like: wait a little instead of spinning.
        asio::steady_timer t(self->io, std::chrono::milliseconds(50));
        co_await t.async_wait(use_tuple);
        continue;
      }
      if (self->conns.size() >= self->o.max_connections && !self->evict_idle()) {
        beast::error_code ignored;
        sock.close(ignored);
        continue;
      }
      asio::co_spawn(self->io, session(self, std::move(sock)), self->reporter());
    }
  }

  static asio::awaitable<void> session(std::shared_ptr<Impl> self, tcp::socket sock) {
    const std::uint64_t id = self->next_id++;
    Conn conn{asio::steady_timer(sock.get_executor()), {}, {}};
    self->conns.emplace(id, &conn);
    struct Cleanup {
      Impl& impl;
      Conn& conn;
      std::uint64_t id;
      ~Cleanup() {
        conn.close = nullptr;
        impl.conns.erase(id);
        if (impl.h.closed) impl.h.closed(id);
      }
    } cleanup{*self, conn, id};
    if (self->h.opened && !self->h.opened(id)) {
      reset_socket(sock);
      co_return;
    }
    beast::error_code ec;
    sock.set_option(tcp::no_delay(true), ec);
    if (self->o.tls) {
      beast::ssl_stream<beast::tcp_stream> stream(std::move(sock), *self->o.tls);
      conn.close = [&stream] { beast::get_lowest_layer(stream).close(); };
      beast::get_lowest_layer(stream).expires_after(self->o.request_timeout);
      auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
      if (hec || self->stopped) co_return;
      if (self->h.handshaken) self->h.handshaken(id);
      co_await serve(self, stream, conn, id);
    } else {
      beast::tcp_stream stream(std::move(sock));
      conn.close = [&stream] { stream.close(); };
      co_await serve(self, stream, conn, id);
    }
  }

  template <class Stream>
  static asio::awaitable<void> answer_unreadable(std::shared_ptr<Impl> self, Stream& stream, bhttp::status status,
                                                 std::uint64_t id) {
    Reply res = self->h.unreadable ? self->h.unreadable(status, id) : plain_reply(status);
    res.keep_alive(false);
    res.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(self->o.request_timeout);
    auto [wec, wn] = co_await bhttp::async_write(stream, res, use_tuple);
    if (wec || self->stopped) co_return;
    co_await drain(stream);
    co_await graceful_close(stream, self->o.request_timeout);
  }

  // Waits out an answer's delay (and its stall); false when the connection
  // ends here (stopped, reset, stalled).
  static asio::awaitable<bool> before_reply(std::shared_ptr<Impl> self, tcp::socket& sock, Conn& conn,
                                            const Answer& a) {
    if (a.delay.count() > 0) {
      conn.timer.expires_after(a.delay);
      co_await conn.timer.async_wait(use_tuple);
      if (self->stopped) co_return false;
    }
    if (a.then == Answer::Then::stall) {
      conn.timer.expires_after(a.stall);
      co_await conn.timer.async_wait(use_tuple);
    }
    if (a.then != Answer::Then::reply) {
      reset_socket(sock);
      co_return false;
    }
    co_return true;
  }

  template <class Stream>
  static asio::awaitable<void> serve(std::shared_ptr<Impl> self, Stream& stream, Conn& conn, std::uint64_t id) {
    const ServerOptions& o = self->o;
    auto& lowest = beast::get_lowest_layer(stream);
    beast::flat_buffer buffer;
    bool first = true;
    for (;;) {
      bhttp::request_parser<bhttp::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(o.max_header_bytes));
      parser.body_limit(o.max_body_bytes);
      // A kept-alive connection may wait idle_timeout for its next request;
      // the first must come within request_timeout.
      lowest.expires_after(first ? std::min(o.request_timeout, o.idle_timeout) : o.idle_timeout);
      first = false;
      conn.idle_since = SteadyClock::now();
      auto [ec, n] = co_await bhttp::async_read(stream, buffer, parser, use_tuple);
      conn.idle_since = {};
      if (self->stopped) co_return;
      if (ec == bhttp::error::end_of_stream) {
        co_await graceful_close(stream, o.request_timeout);
        co_return;
      }
      if (ec) {
        if (auto status = unreadable_status(ec)) co_await answer_unreadable(self, stream, *status, id);
        co_return;
      }
      const Request& req = parser.get();
      Answer a = self->h.request(req, id);
      if (!co_await before_reply(self, lowest.socket(), conn, a)) co_return;
      if (!req.keep_alive()) a.reply.keep_alive(false);
      // A reply to HEAD carries the length of the body it leaves out.
      if (!a.reply.has_content_length()) a.reply.prepare_payload();
      lowest.expires_after(o.request_timeout);
      auto [wec, wn] = co_await bhttp::async_write(stream, a.reply, use_tuple);
      if (wec || self->stopped) co_return;
      if (!a.reply.keep_alive()) {
        co_await graceful_close(stream, o.request_timeout);
        co_return;
      }
    }
  }
};

Server::Server(asio::io_context& io, ServerHandlers handlers, ServerOptions options)
    : impl_(std::make_shared<Impl>(io, std::move(handlers), std::move(options))) {}

Server::~Server() {
  stop();
}

std::uint16_t Server::listen(const std::string& host, std::uint16_t port) {
  beast::error_code ec;
  tcp::resolver resolver(impl_->io);
  auto results =
      resolver.resolve(host, std::to_string(port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (!ec && results.empty()) ec = asio::error::host_not_found;
  if (ec) throw ListenError(ec, "cannot resolve '" + host + "'");
  const tcp::endpoint ep = results.begin()->endpoint();
  auto& acc = impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    beast::error_code ignored;
    acc.close(ignored);
    const bool v6 = host.find(':') != std::string::npos;
    throw ListenError(ec, "cannot listen on " + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port));
  }
  impl_->bound = acc.local_endpoint().port();
  impl_->stopped = false;
  asio::co_spawn(impl_->io, Impl::accept_loop(impl_), impl_->reporter());
  return impl_->bound;
}

void Server::stop() {
  if (impl_ && !impl_->stopped) impl_->stop();
}

std::uint16_t Server::port() const {
  return impl_->bound;
}

std::size_t Server::connections() const {
  return impl_->conns.size();
}

}  // namespace groupwatch::http
