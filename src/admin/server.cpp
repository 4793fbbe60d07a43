// The admin server: Beast HTTP/1.1 with one coroutine per connection,
// bounded requests, keep-alive and a deadline for every read and write.
#include "groupwatch/admin/server.hpp"

#include <map>
#include <set>
#include <stdexcept>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "groupwatch/admin/exposition.hpp"
#include "groupwatch/admin/status_page.hpp"
#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"

namespace groupwatch::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

bool is_loopback(std::string_view host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto a = asio::ip::make_address(std::string(host), ec);
  return !ec && a.is_loopback();
}

struct Server::Impl : std::enable_shared_from_this<Impl> {
  asio::io_context& io;
  std::string listen;
  Provider provider;
  Options options;
  tcp::acceptor acceptor;
  // Open connections; `idle` since when a connection waits for a request
  // (epoch while one is being read or answered).
  struct Conn {
    std::chrono::steady_clock::time_point idle_since{};
  };
  std::map<beast::tcp_stream*, Conn> streams;

  // At the connection limit the one idle longest makes room: idle clients
  // never lock out a liveness probe.
  bool evict_idle() {
    beast::tcp_stream* oldest = nullptr;
    auto since = std::chrono::steady_clock::time_point::max();
    for (auto& [s, c] : streams) {
      if (c.idle_since != std::chrono::steady_clock::time_point{} && c.idle_since < since) {
        since = c.idle_since;
        oldest = s;
      }
    }
    if (oldest == nullptr) return false;
    boost::system::error_code ignored;
    oldest->socket().cancel(ignored);
    oldest->socket().shutdown(tcp::socket::shutdown_both, ignored);
    streams[oldest].idle_since = {};  // being closed
    return true;
  }
  std::uint16_t port = 0;
  bool stopped = false;

  Impl(asio::io_context& i, std::string l, Provider p, Options o)
      : io(i), listen(std::move(l)), provider(std::move(p)), options(o), acceptor(i) {}

  static void log_exception(std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log::error(events::task_failed, ex.what(), {{"task", "admin server"}});
    } catch (...) {
      log::error(events::task_failed, "unknown exception", {{"task", "admin server"}});
    }
  }

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopped) {
      auto [ec, sock] = co_await acceptor.async_accept(tuple_awaitable);
      if (stopped || ec == asio::error::operation_aborted) co_return;
      if (ec) {
        // EMFILE and friends: wait a little instead of spinning.
        asio::steady_timer t(io, std::chrono::milliseconds(100));
        co_await t.async_wait(tuple_awaitable);
        continue;
      }
      if (streams.size() >= options.max_connections && !evict_idle()) {
        boost::system::error_code ignored;
        sock.close(ignored);
        continue;
      }
      asio::co_spawn(io, session(std::move(sock)), &Impl::log_exception);
    }
  }

  template <class Body>
  static void common_headers(http::response<Body>& res, std::string_view content_type) {
    res.set(http::field::server, "groupwatch");
    res.set(http::field::content_type, content_type);
    res.set(http::field::cache_control, "no-store");
    res.set("X-Content-Type-Options", "nosniff");
  }

  http::response<http::string_body> respond(const http::request<http::string_body>& req) {
    http::response<http::string_body> res{http::status::ok, req.version()};
    res.keep_alive(req.keep_alive());
    std::string_view target(req.target().data(), req.target().size());
    auto q = target.find('?');
    std::string_view path = target.substr(0, q);
    auto text = [&](http::status s, std::string body) {
      res.result(s);
      common_headers(res, "text/plain; charset=utf-8");
      res.body() = std::move(body);
    };
    if (req.method() != http::verb::get && req.method() != http::verb::head) {
      text(http::status::method_not_allowed, "only GET and HEAD\n");
      res.set(http::field::allow, "GET, HEAD");
    } else if (path == "/metrics") {
      common_headers(res, Exposition::content_type);
      res.body() = provider.metrics ? provider.metrics() : std::string();
    } else if (path == "/healthz") {
      text(http::status::ok, "ok\n");
    } else if (path == "/readyz") {
      Readiness r = provider.readiness ? provider.readiness() : Readiness{true, {}};
      if (r.ready)
        text(http::status::ok, "ready\n");
      else
        text(http::status::service_unavailable, "not ready: " + r.reason + "\n");
    } else if (path == "/api/status") {
      common_headers(res, "application/json");
      res.body() = provider.status_json ? provider.status_json() : std::string("{}");
    } else if (path == "/" || path == "/index.html") {
      common_headers(res, "text/html; charset=utf-8");
      res.set("Content-Security-Policy",
              "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; connect-src 'self'; "
              "img-src 'self' data:");
      res.body() = std::string(status_page_html());
    } else {
      text(http::status::not_found, "not found; try /, /metrics, /healthz, /readyz or /api/status\n");
    }
    res.prepare_payload();
    if (req.method() == http::verb::head) res.body().clear();
    return res;
  }

  asio::awaitable<void> session(tcp::socket sock) {
    auto self = shared_from_this();
    beast::tcp_stream stream(std::move(sock));
    streams[&stream];
    struct Unregister {
      Impl& impl;
      beast::tcp_stream* s;
      ~Unregister() { impl.streams.erase(s); }
    } unregister{*this, &stream};
    beast::flat_buffer buffer(options.max_header_bytes + options.max_body_bytes);
    bool first = true;
    while (!stopped) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.max_header_bytes));
      parser.body_limit(options.max_body_bytes);
      // Waiting for the next request on a kept-alive connection gets the idle
      // timeout; a request already started must finish within request_timeout.
      stream.expires_after(first ? options.request_timeout : options.idle_timeout);
      first = false;
      if (auto it = streams.find(&stream); it != streams.end())
        it->second.idle_since = std::chrono::steady_clock::now();
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
      if (auto it = streams.find(&stream); it != streams.end()) it->second.idle_since = {};
      if (ec) {
        http::status status{};
        if (ec == http::error::header_limit || ec == http::error::buffer_overflow)
          status = http::status::request_header_fields_too_large;
        else if (ec == http::error::body_limit)
          status = http::status::payload_too_large;
        else if (ec != http::error::end_of_stream && ec != beast::error::timeout &&
                 ec != asio::error::operation_aborted && ec != asio::error::connection_reset && n > 0)
          status = http::status::bad_request;
        if (status != http::status{} && !stopped) {
          http::response<http::string_body> res{status, 11};
          common_headers(res, "text/plain; charset=utf-8");
          res.body() = std::string(http::obsolete_reason(status)) + "\n";
          res.keep_alive(false);
          res.prepare_payload();
          stream.expires_after(options.request_timeout);
          co_await http::async_write(stream, res, tuple_awaitable);
        }
        break;
      }
      auto res = respond(parser.get());
      bool keep = res.keep_alive();
      stream.expires_after(options.request_timeout);
      auto [wec, wn] = co_await http::async_write(stream, res, tuple_awaitable);
      if (wec || !keep) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
};

Server::Server(asio::io_context& io, std::string listen, Provider provider, Options options)
    : impl_(std::make_shared<Impl>(io, std::move(listen), std::move(provider), options)) {}

Server::~Server() {
  stop();
}

std::uint16_t Server::start() {
  std::string err;
  auto addr = parse_listen(impl_->listen, &err);
  if (!addr) throw std::runtime_error("admin.listen: " + err);
  boost::system::error_code ec;
  tcp::resolver resolver(impl_->io);
  auto results = resolver.resolve(addr->host, std::to_string(addr->port),
                                  tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty())
    throw std::runtime_error("admin.listen: cannot resolve '" + addr->host + "': " + ec.message());
  tcp::endpoint ep = results.begin()->endpoint();
  auto& acc = impl_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    boost::system::error_code ignored;
    acc.close(ignored);
    throw std::runtime_error("admin.listen: cannot listen on " + impl_->listen + ": " + ec.message());
  }
  impl_->port = acc.local_endpoint().port();
  impl_->stopped = false;
  std::string where = (ep.address().is_v6() ? "[" + ep.address().to_string() + "]" : ep.address().to_string()) + ":" +
                      std::to_string(impl_->port);
  if (!is_loopback(addr->host)) {
    log::warn(events::admin_listening,
              "the admin server listens beyond loopback: /metrics and the status page are reachable from the network",
              {{"listen", where}});
  } else {
    log::info(events::admin_listening, "admin server listening", {{"listen", where}});
  }
  asio::co_spawn(impl_->io, impl_->accept_loop(), &Impl::log_exception);
  return impl_->port;
}

void Server::stop() {
  if (!impl_ || impl_->stopped) return;
  impl_->stopped = true;
  boost::system::error_code ignored;
  impl_->acceptor.close(ignored);
  for (auto& [s, c] : impl_->streams) s->close();
}

std::uint16_t Server::port() const {
  return impl_->port;
}

}  // namespace groupwatch::admin
