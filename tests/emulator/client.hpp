#pragma once
// A minimal blocking HTTP(S) client for the emulator's tests: each call runs
// its own io_context until the operation completes or its deadline passes.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <chrono>
#include <optional>
#include <sstream>
#include <string>

#include "groupwatch/tencent/request.hpp"
#include "groupwatch/tencent/usersig.hpp"

namespace gw_test {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Response = http::response<http::string_body>;
using Request = http::request<http::string_body>;

class Client {
 public:
  /// `ca_pem` empty: plain HTTP. Otherwise TLS trusting only that certificate.
  Client(std::uint16_t port, const std::string& ca_pem, std::string host = "localhost")
      : port_(port), host_(std::move(host)) {
    if (!ca_pem.empty()) {
      ctx_.set_verify_mode(asio::ssl::verify_peer);
      ctx_.add_certificate_authority(asio::buffer(ca_pem));
      tls_.emplace(ioc_, ctx_);
    } else {
      plain_.emplace(ioc_);
    }
  }

  beast::error_code connect(std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    const asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"), port_);
    lowest().expires_after(timeout);
    auto ec = run([&](auto h) { lowest().async_connect(ep, h); });
    if (ec || !tls_) return ec;
    SSL_set_tlsext_host_name(tls_->native_handle(), host_.c_str());
    tls_->set_verify_callback(asio::ssl::host_name_verification(host_));
    return run([&](auto h) { tls_->async_handshake(asio::ssl::stream_base::client, h); });
  }

  beast::error_code write_raw(const std::string& bytes) {
    lowest().expires_after(std::chrono::seconds(5));
    return with([&](auto& s) { return run2([&](auto h) { asio::async_write(s, asio::buffer(bytes), h); }); });
  }

  beast::error_code write(Request req) {
    req.prepare_payload();
    std::ostringstream os;
    os << req;
    return write_raw(os.str());
  }

  beast::error_code read(Response& res, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
    res = {};
    lowest().expires_after(timeout);
    return with([&](auto& s) { return run2([&](auto h) { http::async_read(s, buf_, res, h); }); });
  }

  /// write + read
  beast::error_code call(Request req, Response& res) {
    if (auto ec = write(std::move(req))) return ec;
    return read(res);
  }

 private:
  beast::tcp_stream& lowest() { return tls_ ? beast::get_lowest_layer(*tls_) : *plain_; }
  template <class F>
  beast::error_code with(F f) {
    if (tls_) return f(*tls_);
    return f(*plain_);
  }
  template <class Start>
  beast::error_code run(Start start) {
    beast::error_code result;
    start([&](beast::error_code ec) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }
  template <class Start>
  beast::error_code run2(Start start) {
    beast::error_code result;
    start([&](beast::error_code ec, std::size_t) { result = ec; });
    ioc_.restart();
    ioc_.run();
    return result;
  }

  asio::io_context ioc_;
  asio::ssl::context ctx_{asio::ssl::context::tls_client};
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls_;
  std::optional<beast::tcp_stream> plain_;
  beast::flat_buffer buf_;
  std::uint16_t port_;
  std::string host_;
};

inline Request command(std::string target, std::string body, bool keep_alive = true) {
  Request req(http::verb::post, target, 11);
  req.set(http::field::host, "localhost");
  req.set(http::field::content_type, "application/json");
  req.keep_alive(keep_alive);
  req.body() = std::move(body);
  req.prepare_payload();
  return req;
}

inline std::string target_for(std::uint64_t sdkappid, std::string_view identifier, std::string_view usersig,
                              std::uint32_t random = 12345) {
  return groupwatch::tencent::build_target("", sdkappid, identifier, usersig, random);
}

/// target_for with another command's path (e.g. get_appid_group_list).
inline std::string target_at(std::string_view path, std::uint64_t sdkappid, std::string_view identifier,
                             std::string_view usersig, std::uint32_t random = 12345) {
  const std::string t = target_for(sdkappid, identifier, usersig, random);
  return std::string(path) + t.substr(t.find('?'));
}

inline std::string body_for(std::string_view group) {
  return groupwatch::tencent::build_body(group);
}

}  // namespace gw_test
