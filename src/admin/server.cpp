// The admin server: its routes on the one HTTP server (http::Server), which
// bounds requests and connections and puts a deadline on every read and write.
#include "groupwatch/admin/server.hpp"

#include <stdexcept>

#include <boost/asio/ip/address.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "groupwatch/admin/exposition.hpp"
#include "groupwatch/admin/status_page.hpp"
#include "groupwatch/http/server.hpp"
#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"

namespace groupwatch::admin {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

bool is_loopback(std::string_view host) {
  if (host == "localhost") return true;
  boost::system::error_code ec;
  auto a = asio::ip::make_address(std::string(host), ec);
  return !ec && a.is_loopback();
}

namespace {

template <class Body>
void common_headers(bhttp::response<Body>& res, std::string_view content_type) {
  res.set(bhttp::field::server, "groupwatch");
  res.set(bhttp::field::content_type, content_type);
  res.set(bhttp::field::cache_control, "no-store");
  res.set("X-Content-Type-Options", "nosniff");
}

http::Reply respond(const Provider& provider, const http::Request& req) {
  http::Reply res{bhttp::status::ok, req.version()};
  std::string_view target(req.target().data(), req.target().size());
  auto q = target.find('?');
  std::string_view path = target.substr(0, q);
  auto text = [&](bhttp::status s, std::string body) {
    res.result(s);
    common_headers(res, "text/plain; charset=utf-8");
    res.body() = std::move(body);
  };
  if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
    text(bhttp::status::method_not_allowed, "only GET and HEAD\n");
    res.set(bhttp::field::allow, "GET, HEAD");
  } else if (path == "/metrics") {
    common_headers(res, Exposition::content_type);
    res.body() = provider.metrics ? provider.metrics() : std::string();
  } else if (path == "/healthz") {
    text(bhttp::status::ok, "ok\n");
  } else if (path == "/readyz") {
    Readiness r = provider.readiness ? provider.readiness() : Readiness{true, {}};
    if (r.ready)
      text(bhttp::status::ok, "ready\n");
    else
      text(bhttp::status::service_unavailable, "not ready: " + r.reason + "\n");
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
    text(bhttp::status::not_found, "not found; try /, /metrics, /healthz, /readyz or /api/status\n");
  }
  res.prepare_payload();
  if (req.method() == bhttp::verb::head) res.body().clear();
  return res;
}

}  // namespace

struct Server::Impl {
  Impl(boost::asio::io_context& io, std::string l, Provider p, const Options& o)
      : listen(std::move(l)),
        server(io,
               http::ServerHandlers{
                   .request = [p = std::move(p)](const http::Request& req,
                                                 std::uint64_t) { return http::Answer{.reply = respond(p, req)}; },
                   .unreadable =
                       [](bhttp::status status, std::uint64_t) {
                         http::Reply res{status, 11};
                         common_headers(res, "text/plain; charset=utf-8");
                         res.body() = std::string(bhttp::obsolete_reason(status)) + "\n";
                         return res;
                       },
               },
               http::ServerOptions{.name = "admin server",
                                   .max_header_bytes = o.max_header_bytes,
                                   .max_body_bytes = o.max_body_bytes,
                                   .request_timeout = o.request_timeout,
                                   .idle_timeout = o.idle_timeout,
                                   .max_connections = o.max_connections}) {}
  std::string listen;
  http::Server server;
};

Server::Server(boost::asio::io_context& io, std::string listen, Provider provider, Options options)
    : impl_(std::make_shared<Impl>(io, std::move(listen), std::move(provider), options)) {}

Server::~Server() {
  stop();
}

std::uint16_t Server::start() {
  const auto bound = impl_->server.listen_on(impl_->listen, "admin.listen");
  const std::string where = bound.text();
  if (!is_loopback(bound.host)) {
    log::warn(events::admin_listening,
              "the admin server listens beyond loopback: /metrics and the status page are reachable from the network",
              {{"listen", where}});
  } else {
    log::info(events::admin_listening, "admin server listening", {{"listen", where}});
  }
  return bound.port;
}

void Server::stop() {
  if (impl_) impl_->server.stop();
}

std::uint16_t Server::port() const {
  return impl_->server.port();
}

}  // namespace groupwatch::admin
