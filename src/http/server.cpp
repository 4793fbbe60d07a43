// The one HTTP/1.1 server (see server.hpp): an accept loop and a coroutine
// per connection that reads a request, asks the handler, and writes what
// it says, with a deadline on every step.
#include "groupwatch/http/server.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <map>
#include <optional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/compose.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
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

// A connection's TCP stream: a socket with one deadline for whatever it is
// doing (as beast::tcp_stream has) that reads with recvmsg, so that each read
// learns when the kernel received its last bytes (SO_TIMESTAMPNS, which the
// socket inherits from a listener with ServerOptions::stamp_arrivals). The emulator counts a request at that time, as
// the vendor counts one when it arrives: a server thread that waited for a CPU would otherwise count requests late,
// bunched into a second the wire never held.
class Stream {
 public:
  using executor_type = tcp::socket::executor_type;

  explicit Stream(tcp::socket s) : sock_(std::move(s)), timer_(sock_.get_executor()) {}
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  using lowest_layer_type = tcp::socket::lowest_layer_type;  // for asio::ssl::stream

  executor_type get_executor() { return sock_.get_executor(); }
  lowest_layer_type& lowest_layer() { return sock_.lowest_layer(); }
  const lowest_layer_type& lowest_layer() const { return sock_.lowest_layer(); }
  tcp::socket& socket() { return sock_; }
  /// Every operation from now on ends with beast::error::timeout once `d`
  /// has passed (until the next call).
  void expires_after(std::chrono::milliseconds d) { deadline_ = SteadyClock::now() + d; }
  void close() {
    beast::error_code ec;
    sock_.close(ec);
    timer_.cancel();
  }
  /// When the last bytes read arrived: the kernel's stamp, or the time of
  /// the read without one.
  SteadyClock::time_point arrived() const { return arrived_; }

  template <class Buffers, class Token>
  auto async_read_some(const Buffers& b, Token&& token) {
    return asio::async_compose<Token, void(beast::error_code, std::size_t)>(Op<Buffers, true>{*this, b}, token, sock_);
  }
  template <class Buffers, class Token>
  auto async_write_some(const Buffers& b, Token&& token) {
    return asio::async_compose<Token, void(beast::error_code, std::size_t)>(Op<Buffers, false>{*this, b}, token, sock_);
  }

 private:
  // A read waits for the socket to be readable and then reads it itself; a
  // write is the socket's own. Either way the deadline's timer runs beside.
  template <class Buffers, bool Read>
  struct Op {
    Stream& s;
    Buffers b;
    std::uint64_t armed = 0;
    template <class Self>
    void operator()(Self& self, beast::error_code ec = {}, std::size_t n = 0) {
      if (armed == 0) {
        armed = s.arm();
        if constexpr (Read) {
          // Nothing to read into (the TLS layer asks so): done at once, as
          // a socket's own read would be, without waiting for data.
          if (asio::buffer_size(b) == 0) {
            asio::post(s.sock_.get_executor(), std::move(self));
          } else {
            s.sock_.async_wait(tcp::socket::wait_read, std::move(self));
          }
        } else {
          s.sock_.async_write_some(b, std::move(self));
        }
        return;
      }
      if constexpr (Read) {
        if (!ec) {
          ec = s.receive(b, n);
          if (ec == asio::error::would_block) {
            s.sock_.async_wait(tcp::socket::wait_read, std::move(self));
            return;
          }
        }
      }
      const bool timed_out = s.disarm(armed);
      if (ec && timed_out) ec = beast::error::timeout;
      self.complete(ec, ec ? 0 : n);
    }
  };

  // Starts the deadline's wait for one operation; returns its number.
  std::uint64_t arm() {
    const std::uint64_t n = ++armed_;
    timed_out_ = false;
    if (deadline_ == SteadyClock::time_point::max()) return n;
    timer_.expires_at(deadline_);
    timer_.async_wait([this, n](const beast::error_code& ec) {
      if (ec || n != armed_) return;  // (aborted: `this` may be gone)
      timed_out_ = true;
      beast::error_code ignored;
      sock_.cancel(ignored);
    });
    return n;
  }
  // The operation numbered `n` ended: stops its wait; true when it timed out.
  bool disarm(std::uint64_t n) {
    const bool timed_out = timed_out_ && n == armed_;
    if (n == armed_) timer_.cancel();
    return timed_out;
  }

  template <class Buffers>
  beast::error_code receive(const Buffers& b, std::size_t& n) {
    std::array<iovec, 8> iov{};
    std::size_t k = 0;
    for (auto it = asio::buffer_sequence_begin(b); it != asio::buffer_sequence_end(b) && k < iov.size(); ++it) {
      const asio::mutable_buffer mb(*it);
      if (mb.size() > 0) iov[k++] = iovec{mb.data(), mb.size()};
    }
    if (k == 0) return {};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(timespec))];
    msghdr m{};
    m.msg_iov = iov.data();
    m.msg_iovlen = k;
    m.msg_control = control;
    m.msg_controllen = sizeof control;
    ssize_t r = 0;
    do {
      r = ::recvmsg(sock_.native_handle(), &m, MSG_DONTWAIT);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return asio::error::would_block;
      return {errno, asio::error::get_system_category()};
    }
    if (r == 0) return asio::error::eof;
    n = static_cast<std::size_t>(r);
    arrived_ = SteadyClock::now();
    for (cmsghdr* c = CMSG_FIRSTHDR(&m); c != nullptr; c = CMSG_NXTHDR(&m, c)) {
      if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_TIMESTAMPNS) continue;
      timespec at{}, now{};
      std::memcpy(&at, CMSG_DATA(c), sizeof at);
      ::clock_gettime(CLOCK_REALTIME, &now);
      const auto age =
          std::chrono::seconds(now.tv_sec - at.tv_sec) + std::chrono::nanoseconds(now.tv_nsec - at.tv_nsec);
      if (age.count() > 0) arrived_ -= std::chrono::duration_cast<SteadyClock::duration>(age);
    }
    return {};
  }

  tcp::socket sock_;
  asio::steady_timer timer_;
  SteadyClock::time_point deadline_ = SteadyClock::time_point::max();
  std::uint64_t armed_ = 0;
  bool timed_out_ = false;
  SteadyClock::time_point arrived_{};
};

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

asio::awaitable<void> graceful_close(Stream& s, std::chrono::milliseconds) {
  beast::error_code ec;
  s.socket().shutdown(tcp::socket::shutdown_send, ec);
  co_return;
}

asio::awaitable<void> graceful_close(beast::ssl_stream<Stream>& s, std::chrono::milliseconds limit) {
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
  SteadyClock::time_point arrived{};  // of the request being handled

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
      beast::ssl_stream<Stream> stream(std::move(sock), *self->o.tls);
      conn.close = [&stream] { beast::get_lowest_layer(stream).close(); };
      beast::get_lowest_layer(stream).expires_after(self->o.request_timeout);
      auto [hec] = co_await stream.async_handshake(ssl::stream_base::server, use_tuple);
      if (hec || self->stopped) co_return;
      if (self->h.handshaken) self->h.handshaken(id);
      co_await serve(self, stream, conn, id);
    } else {
      Stream stream(std::move(sock));
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
      self->arrived = lowest.arrived();
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
  if (!ec && impl_->o.stamp_arrivals) {
    // On the listener, so that what arrives before a connection is
    // accepted is stamped too: the accepted socket inherits it.
    const int on = 1;
    (void)::setsockopt(acc.native_handle(), SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof on);
  }
  if (ec) {
    beast::error_code ignored;
    acc.close(ignored);
    throw ListenError(ec, "cannot listen on " + ListenAddress{host, port}.text());
  }
  impl_->bound = acc.local_endpoint().port();
  impl_->stopped = false;
  asio::co_spawn(impl_->io, Impl::accept_loop(impl_), impl_->reporter());
  return impl_->bound;
}

ListenAddress Server::listen_on(std::string_view address, std::string_view what) {
  std::string why;
  auto addr = parse_listen(address, &why);
  if (!addr) throw std::runtime_error(std::string(what) + ": " + why);
  try {
    addr->port = listen(addr->host, addr->port);
  } catch (const ListenError& e) {
    throw std::runtime_error(std::string(what) + ": " + e.what());
  }
  return *addr;
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

std::chrono::steady_clock::time_point Server::request_arrived() const {
  return impl_->arrived;
}

}  // namespace groupwatch::http
