#pragma once
// A small scriptable HTTP(S) server on 127.0.0.1 for the pool tests: it can
// stall, reset, close, answer 502 or oversized bodies, and it counts
// handshakes and concurrent connections. Runs on its own thread.
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

namespace gw_test {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;

struct CertPair {
  std::string cert_pem;
  std::string key_pem;
};

/// A self-signed P-256 certificate for `san` (e.g. "DNS:localhost,IP:127.0.0.1").
inline CertPair make_self_signed(const std::string& cn, const std::string& san) {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x),
                   static_cast<long>(std::chrono::steady_clock::now().time_since_epoch().count() & 0x7fffffff));
  X509_gmtime_adj(X509_getm_notBefore(x), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x), 86400);
  X509_set_pubkey(x, key);
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509V3_CTX v3;
  X509V3_set_ctx_nodb(&v3);
  X509V3_set_ctx(&v3, x, x, nullptr, nullptr, 0);
  const std::pair<int, std::string> exts[] = {{NID_subject_alt_name, san},
                                              {NID_basic_constraints, "critical,CA:TRUE"},
                                              {NID_key_usage, "critical,digitalSignature,keyCertSign"}};
  for (const auto& [nid, value] : exts) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &v3, nid, value.c_str());
    if (!ext) throw std::runtime_error("bad extension " + value);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, key, EVP_sha256());
  auto to_pem = [](auto write) {
    BIO* bio = BIO_new(BIO_s_mem());
    write(bio);
    char* data = nullptr;
    long n = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(n));
    BIO_free(bio);
    return out;
  };
  CertPair p;
  p.cert_pem = to_pem([&](BIO* b) { PEM_write_bio_X509(b, x); });
  p.key_pem = to_pem([&](BIO* b) { PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr); });
  X509_free(x);
  EVP_PKEY_free(key);
  return p;
}

enum class Mode {
  ok,          // 200, keep-alive
  close,       // 200 with Connection: close, then close
  idle_close,  // 200 keep-alive, then close at once (a server dropping idle connections)
  stall,       // read the request, never answer
  reset,       // read the request, then RST
  html502,     // 502 with an HTML body
  big_body,    // 200 with a 100 KiB body
  big_header,  // 200 with a 16 KiB header
  garbage,     // not HTTP at all
  chunked,     // 200 keep-alive, the body in two chunks
};

struct Captured {
  std::string method, target, host, user_agent, content_type, body;
  unsigned version = 0;
};

struct ServerOptions {
  bool tls = true;
  std::string cn = "localhost";
  std::string san = "DNS:localhost,IP:127.0.0.1";
};

class TestServer {
 public:
  using Options = ServerOptions;

  explicit TestServer(Options o = {}) : opts_(std::move(o)), acceptor_(io_, {asio::ip::make_address("127.0.0.1"), 0}) {
    if (opts_.tls) {
      CertPair cp = make_self_signed(opts_.cn, opts_.san);
      ctx_.use_certificate_chain(asio::buffer(cp.cert_pem));
      ctx_.use_private_key(asio::buffer(cp.key_pem), ssl::context::pem);
      static std::atomic<int> seq{0};
      ca_file_ = (std::filesystem::temp_directory_path() /
                  ("gw_http_test_ca_" + std::to_string(::getpid()) + "_" + std::to_string(seq++) + ".pem"))
                     .string();
      std::ofstream(ca_file_) << cp.cert_pem;
    }
    asio::co_spawn(io_, accept_loop(), asio::detached);
    thread_ = std::thread([this] { io_.run(); });
  }

  ~TestServer() {
    io_.stop();
    thread_.join();
    if (!ca_file_.empty()) std::filesystem::remove(ca_file_);
  }

  std::string port() const { return std::to_string(acceptor_.local_endpoint().port()); }
  const std::string& ca_file() const { return ca_file_; }

  Captured last() {
    std::lock_guard lock(mu_);
    return last_;
  }

  std::atomic<Mode> mode{Mode::ok};
  std::atomic<int> delay_ms{0};
  std::atomic<int> accepted{0};
  std::atomic<int> handshakes{0};
  std::atomic<int> requests{0};
  std::atomic<int> active{0};
  std::atomic<int> max_active{0};

 private:
  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor_.async_accept(asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      asio::co_spawn(io_, session(std::move(sock)), asio::detached);
    }
  }

  asio::awaitable<void> session(tcp::socket sock) {
    ++accepted;
    const int now = ++active;
    int prev = max_active.load();
    while (prev < now && !max_active.compare_exchange_weak(prev, now)) {
    }
    struct Guard {
      std::atomic<int>& a;
      ~Guard() { --a; }
    } guard{active};
    if (!opts_.tls) {
      co_await serve(sock, sock);
      co_return;
    }
    ssl::stream<tcp::socket> s(std::move(sock), ctx_);
    auto [ec] = co_await s.async_handshake(ssl::stream_base::server, asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    ++handshakes;
    co_await serve(s, s.next_layer());
  }

  template <class Stream>
  asio::awaitable<void> serve(Stream& s, tcp::socket& raw) {
    boost::beast::flat_buffer buf;
    for (;;) {
      bhttp::request<bhttp::string_body> req;
      auto [ec, n] = co_await bhttp::async_read(s, buf, req, asio::as_tuple(asio::use_awaitable));
      if (ec) co_return;
      ++requests;
      {
        std::lock_guard lock(mu_);
        last_.method = std::string(req.method_string());
        last_.target = std::string(req.target());
        last_.host = std::string(req[bhttp::field::host]);
        last_.user_agent = std::string(req[bhttp::field::user_agent]);
        last_.content_type = std::string(req[bhttp::field::content_type]);
        last_.body = req.body();
        last_.version = req.version();
      }
      asio::steady_timer timer(io_);
      if (int d = delay_ms.load(); d > 0) {
        timer.expires_after(std::chrono::milliseconds(d));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
      }
      const Mode m = mode.load();
      if (m == Mode::stall) {
        timer.expires_after(std::chrono::hours(1));
        co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        co_return;
      }
      if (m == Mode::reset) {
        boost::system::error_code ignored;
        raw.set_option(asio::socket_base::linger(true, 0), ignored);
        raw.close(ignored);
        co_return;
      }
      if (m == Mode::garbage) {
        static const std::string junk = "THIS IS NOT HTTP\r\n\r\n";
        co_await asio::async_write(s, asio::buffer(junk), asio::as_tuple(asio::use_awaitable));
        continue;
      }
      if (m == Mode::chunked) {
        static const std::string two_chunks =
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            "15\r\n{\"ActionStatus\":\"OK\",\r\n"
            "22\r\n\"ErrorCode\":0,\"OnlineMemberNum\":7}\r\n0\r\n\r\n";
        auto [wec, wn] = co_await asio::async_write(s, asio::buffer(two_chunks), asio::as_tuple(asio::use_awaitable));
        if (wec) co_return;
        continue;
      }
      bhttp::response<bhttp::string_body> res{bhttp::status::ok, 11};
      res.set(bhttp::field::content_type, "application/json");
      res.body() = R"({"ActionStatus":"OK","ErrorCode":0,"OnlineMemberNum":7})";
      if (m == Mode::html502) {
        res.result(bhttp::status::bad_gateway);
        res.set(bhttp::field::content_type, "text/html");
        res.body() = "<html><body><h1>502 Bad Gateway</h1></body></html>";
      } else if (m == Mode::big_body) {
        res.body().assign(100 * 1024, 'x');
      } else if (m == Mode::big_header) {
        res.set("X-Filler", std::string(16 * 1024, 'y'));
      }
      res.keep_alive(m != Mode::close);
      res.prepare_payload();
      auto [wec, wn] = co_await bhttp::async_write(s, res, asio::as_tuple(asio::use_awaitable));
      if (wec) co_return;
      if (m == Mode::close || m == Mode::idle_close) {
        boost::system::error_code ignored;
        raw.shutdown(tcp::socket::shutdown_both, ignored);
        raw.close(ignored);
        co_return;
      }
    }
  }

  Options opts_;
  asio::io_context io_;
  ssl::context ctx_{ssl::context::tls_server};
  tcp::acceptor acceptor_;
  std::string ca_file_;
  std::thread thread_;
  std::mutex mu_;
  Captured last_;
};

}  // namespace gw_test
