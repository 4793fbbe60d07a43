// Keep-alive connection pool. The request path is written for the hot loop:
// per-connection buffers are reused, the request head is serialised by hand
// into one buffer (one TLS record, one syscall), and idle connections are
// reused without resolving again.
#include "groupwatch/http/pool.hpp"

#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <algorithm>
#include <charconv>
#include <deque>
#include <optional>
#include <stdexcept>
#include <utility>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/basic_parser.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>

#include "groupwatch/util/names.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::http {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using boost::system::error_code;

namespace {

constexpr std::uint32_t kHeaderLimit = 8 * 1024;
constexpr auto kResolveCacheTtl = std::chrono::seconds(60);
// A failed resolve is reported to every request for this long without a new lookup.
constexpr auto kResolveFailureTtl = std::chrono::seconds(1);
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

bool is_ip_literal(const std::string& host) {
  error_code ec;
  asio::ip::make_address(host, ec);
  return !ec;
}

// A target goes on the request line verbatim; refuse anything that could
// split it (header injection) rather than escaping it.
bool valid_target(const Text& target) {
  auto first = std::find_if(target.parts.begin(), target.parts.end(), [](std::string_view p) { return !p.empty(); });
  if (first == target.parts.end() || first->front() != '/') return false;
  return std::all_of(target.parts.begin(), target.parts.end(), [](std::string_view p) {
    return std::none_of(p.begin(), p.end(), [](char c) { return static_cast<unsigned char>(c) <= 0x20 || c == 0x7f; });
  });
}

Response fail(Failure f, std::string detail) {
  Response r;
  r.failure = f;
  r.detail = std::move(detail);
  return r;
}

std::string ms_text(std::chrono::milliseconds ms) {
  return std::to_string(ms.count()) + "ms";
}

bool is_reset_error(const error_code& ec) {
  return ec == bhttp::error::end_of_stream || ec == bhttp::error::partial_message || ec == asio::error::eof ||
         ec == asio::error::connection_reset || ec == asio::error::connection_aborted ||
         ec == asio::error::broken_pipe || ec == ssl::error::stream_truncated;
}

}  // namespace

constexpr std::array<std::string_view, 9> failures{"none",  "resolve",  "connect",   "tls",      "timeout",
                                                   "reset", "protocol", "too_large", "cancelled"};
static_assert(util::names_each(failures, Failure::cancelled));

const char* to_string(Failure f) {
  return util::name_of(failures, f, "unknown").data();
}

namespace {

struct Connection : std::enable_shared_from_this<Connection> {
  Connection(const asio::any_io_executor& ex, ssl::context* ctx) : timer(ex) {
    if (ctx) {
      tls.emplace(ex, *ctx);
    } else {
      plain.emplace(ex);
    }
  }
  tcp::socket& socket() { return tls ? tls->next_layer() : *plain; }
  void close() {
    error_code ignored;
    socket().shutdown(tcp::socket::shutdown_both, ignored);
    socket().close(ignored);
  }

  // One deadline a step (connect, handshake, CONNECT, a request and its
  // answer) instead of a timer a read or write. One wait follows it: woken
  // before a deadline that has moved on since, it waits again; past the
  // deadline it closes the socket, the step's operation fails, and
  // timed_out says why. Arming it again for the next request touches no
  // timer while the wait already ends earlier.
  void arm(Clock::time_point at) {
    due = at;
    timed_out = false;
    if (waiting && timer.expiry() <= at) return;
    waiting = true;
    timer.expires_at(at);  // a wait pending for later ends with operation_aborted
    wait();
  }
  void disarm() { due = Clock::time_point::max(); }

  std::optional<tcp::socket> plain;
  std::optional<ssl::stream<tcp::socket>> tls;
  beast::flat_buffer buffer;  // kept across requests: no per-request growth
  std::string out;            // request head + body, reused
  Clock::time_point idle_since{};
  bool timed_out = false;

 private:
  void wait() {
    timer.async_wait([weak = weak_from_this()](error_code ec) {
      if (ec == asio::error::operation_aborted) return;  // re-armed nearer, or gone
      auto self = weak.lock();
      if (!self) return;
      if (self->due == Clock::time_point::max()) {
        self->waiting = false;
      } else if (Clock::now() < self->due) {
        self->timer.expires_at(self->due);
        self->wait();
      } else {
        self->waiting = false;
        self->timed_out = true;
        self->close();
      }
    });
  }

  asio::steady_timer timer;
  Clock::time_point due = Clock::time_point::max();
  bool waiting = false;  // a wait is pending on `timer`
};

using ConnPtr = std::shared_ptr<Connection>;

// Reads an answer's status, body and keep-alive, and nothing else: Beast's
// own response parser stores every header field, an allocation each. The
// body gets kBodyPadding bytes of spare capacity, which lets simdjson parse
// it in place.
class AnswerParser final : public bhttp::basic_parser<false> {
 public:
  explicit AnswerParser(std::string& body) : body_(body) {}
  unsigned status() const { return status_; }

 private:
  void on_request_impl(bhttp::verb, beast::string_view, beast::string_view, int, error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, error_code&) override {
    status_ = static_cast<unsigned>(code);
  }
  void on_field_impl(bhttp::field, beast::string_view, beast::string_view, error_code&) override {}
  void on_header_impl(error_code&) override {}
  // A length over the body limit fails before this is called.
  void on_body_init_impl(const boost::optional<std::uint64_t>& length, error_code&) override {
    if (length) body_.reserve(static_cast<std::size_t>(*length) + kBodyPadding);
  }
  std::size_t on_body_impl(beast::string_view part, error_code&) override {
    body_.append(part.data(), part.size());
    return part.size();
  }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view part, error_code&) override {
    body_.append(part.data(), part.size());
    return part.size();
  }
  void on_finish_impl(error_code&) override {}

  std::string& body_;
  unsigned status_ = 0;
};

}  // namespace

struct Pool::Impl : std::enable_shared_from_this<Impl> {
  // One post() in progress: its wait for a connection, its resolve and its
  // connection are all reachable from here so shutdown() can end them.
  struct Call final : Gate::Waiter {
    // Calls form an intrusive list: registering one costs no allocation.
    explicit Call(Impl& p) : pool(p), next(p.calls) {
      if (next) next->prev = this;
      pool.calls = this;
    }
    ~Call() {
      if (prev) {
        prev->next = next;
      } else {
        pool.calls = next;
      }
      if (next) next->prev = prev;
      if (queued) std::erase(pool.waiters, this);
      if (resolve_wait) std::erase(pool.resolve_waiters, this);
      if (gate) gate->dequeue(this);
      // Destroyed between a hand-over and its resumption (teardown).
      if (handed || slot) {
        const bool reusable = handed != nullptr;
        pool.release(std::move(handed), reusable);
      }
    }
    Call(const Call&) = delete;
    Call& operator=(const Call&) = delete;

    void admitted() override {
      admitted_flag = true;
      wake();
    }
    // The timer of a wait (a connection, a resolve, a permit): made on the
    // first wait, since most requests never wait and an I/O object costs a
    // service lookup under a mutex to make.
    asio::steady_timer& timer() {
      if (!wait_timer) wait_timer.emplace(pool.ex);
      return *wait_timer;
    }
    void wake() {
      if (wait_timer) wait_timer->cancel();
    }

    Impl& pool;
    std::optional<asio::steady_timer> wait_timer;  // see timer()
    Gate* gate = nullptr;                          // queued at this gate for a permit
    bool admitted_flag = false;
    ConnPtr handed;             // a connection handed over by a release
    bool slot = false;          // a slot to open a connection handed over
    bool queued = false;        // in pool.waiters
    bool resolve_wait = false;  // in pool.resolve_waiters
    Connection* active = nullptr;
    tcp::resolver* resolver = nullptr;
    Call* prev = nullptr;
    Call* next = nullptr;
  };

  // A slot in the pool, with or without its connection. Gives both back when
  // it goes out of scope: to the idle list if `reusable`, closed otherwise.
  struct Lease {
    explicit Lease(Impl& p, ConnPtr c) : pool(&p), conn(std::move(c)) {}
    ~Lease() { pool->release(std::move(conn), reusable); }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    void drop_connection() {
      if (conn) conn->close();
      conn.reset();
    }

    Impl* pool;
    ConnPtr conn;
    bool reusable = false;
  };

  struct Acquired {
    Failure failure = Failure::none;
    ConnPtr conn;  // null: a free slot to open a new connection in
  };

  Impl(asio::any_io_executor e, PoolOptions o) : ex(std::move(e)), opts(std::move(o)), sweeper(ex) {
    if (opts.host.empty()) throw std::invalid_argument("http pool: host is empty");
    if (opts.max_connections == 0) throw std::invalid_argument("http pool: max_connections must be at least 1");
    if (opts.agent_note.find_first_of("\r\n") != std::string::npos)
      throw std::invalid_argument("http pool: agent_note has a line break");
    const bool default_port = opts.port == (opts.tls ? "443" : "80");
    host_header = url_host(opts.host);
    if (!default_port) host_header += ":" + opts.port;
    if (opts.tls) setup_tls();
  }

  void setup_tls() {
    sni = !is_ip_literal(opts.host);
    ctx.emplace(ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    ctx->set_default_verify_paths();
    if (!opts.ca_file.empty()) {
      error_code ec;
      ctx->load_verify_file(opts.ca_file, ec);
      if (ec) throw std::runtime_error("http pool: cannot load ca_file " + opts.ca_file + ": " + ec.message());
    }
    if (!opts.verify) {
      ctx->set_verify_mode(ssl::verify_none);
      return;
    }
    ctx->set_verify_mode(ssl::verify_peer);
    // host_name_verification fails without telling OpenSSL why; record the
    // reason so the handshake error says "hostname mismatch".
    ctx->set_verify_callback(
        [check = ssl::host_name_verification(opts.host), ip = !sni](bool preverified, ssl::verify_context& vc) mutable {
          const bool ok = check(preverified, vc);
          if (preverified && !ok) {
            X509_STORE_CTX_set_error(vc.native_handle(),
                                     ip ? X509_V_ERR_IP_ADDRESS_MISMATCH : X509_V_ERR_HOSTNAME_MISMATCH);
          }
          return ok;
        });
  }

  // ---- slots and idle connections -------------------------------------

  void drop_expired_idle(Clock::time_point now) {
    while (!idle.empty() && now - idle.front()->idle_since >= opts.idle_timeout) {
      idle.front()->close();
      idle.pop_front();
      --open;
    }
  }

  // An idle connection, or a free slot to open one in; nothing when every
  // slot is taken. Not a coroutine: the usual case costs no frame.
  std::optional<Acquired> try_acquire() {
    drop_expired_idle(Clock::now());
    if (!idle.empty()) {
      Acquired a{Failure::none, std::move(idle.back())};
      idle.pop_back();
      return a;
    }
    if (open < opts.max_connections) {
      ++open;
      return Acquired{};
    }
    return std::nullopt;
  }

  // Every slot is taken: waits for a release to hand one over.
  asio::awaitable<Acquired> acquire(Call& call, Clock::time_point deadline) {
    waiters.push_back(&call);
    call.queued = true;
    call.timer().expires_at(deadline);
    co_await call.timer().async_wait(use_tuple);
    // Whatever woke us, a hand-over wins: the releaser already gave it away.
    // Past the deadline it goes on to the next waiter instead of being
    // spent on a request that would time out at once.
    ConnPtr handed = std::move(call.handed);
    const bool had_slot = std::exchange(call.slot, false);
    const bool got = handed || had_slot;
    if (got && Clock::now() < deadline && !stopped) co_return Acquired{Failure::none, std::move(handed)};
    if (got) {
      const bool reusable = handed != nullptr;
      release(std::move(handed), reusable);
    }
    if (call.queued) std::erase(waiters, &call);
    call.queued = false;
    if (stopped) co_return Acquired{Failure::cancelled, nullptr};
    co_return Acquired{Failure::timeout, nullptr};
  }

  void release(ConnPtr conn, bool reusable) {
    if (conn && reusable && !stopped) {
      conn->idle_since = Clock::now();
      if (!waiters.empty()) {
        Call* w = waiters.front();
        waiters.pop_front();
        w->queued = false;
        w->handed = std::move(conn);
        w->wake();
        return;
      }
      idle.push_back(std::move(conn));
      arm_sweeper();
      return;
    }
    if (conn) conn->close();
    conn.reset();
    --open;
    if (!stopped && !waiters.empty()) {
      Call* w = waiters.front();
      waiters.pop_front();
      w->queued = false;
      ++open;
      w->slot = true;
      w->wake();
    }
  }

  void arm_sweeper() {
    if (sweeping || stopped) return;
    sweeping = true;
    sweeper.expires_after(std::max<Clock::duration>(opts.idle_timeout / 2, std::chrono::milliseconds(10)));
    sweeper.async_wait([weak = weak_from_this()](error_code ec) {
      auto self = weak.lock();
      if (!self) return;
      self->sweeping = false;
      if (ec || self->stopped) return;
      self->drop_expired_idle(Clock::now());
      if (!self->idle.empty()) self->arm_sweeper();
    });
  }

  // ---- opening a connection --------------------------------------------

  asio::awaitable<Response> resolve(Call& call, Clock::time_point deadline) {
    tcp::resolver resolver(ex);
    call.resolver = &resolver;
    // The resolver has no deadline of its own: a timer cancels it, and so
    // does shutdown() (which cancels the timer).
    auto done = std::make_shared<bool>(false);
    call.timer().expires_at(deadline);
    call.timer().async_wait([done, &resolver](error_code) {
      if (!*done) resolver.cancel();
    });
    const bool proxied = !opts.proxy_host.empty();
    const std::string& rhost = proxied ? opts.proxy_host : opts.host;
    auto [ec, results] = co_await resolver.async_resolve(rhost, proxied ? opts.proxy_port : opts.port, use_tuple);
    *done = true;
    call.resolver = nullptr;
    call.wake();
    if (stopped) co_return fail(Failure::cancelled, "pool shut down");
    if (ec == asio::error::operation_aborted)
      co_return fail(Failure::timeout, "resolve timed out after " + ms_text(opts.timeout));
    if (ec)
      co_return fail(Failure::resolve,
                     (proxied ? "proxy: cannot resolve " : "cannot resolve ") + rhost + ": " + ec.message());
    if (results.empty())
      co_return fail(Failure::resolve, (proxied ? "proxy: no address for " : "no address for ") + rhost);
    endpoints = std::move(results);
    resolved_at = Clock::now();
    co_return Response{};
  }

  // CONNECT through the proxy: from then on the socket is a tunnel to
  // host:port, and TLS runs through it end to end (verified against `host`).
  asio::awaitable<Response> tunnel(Connection& c, Clock::time_point deadline) {
    const std::string target = host_header_with_port();
    const std::string req = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\nUser-Agent: groupwatch\r\n\r\n";
    c.arm(deadline);
    auto [wec, wn] = co_await asio::async_write(c.socket(), asio::buffer(req), use_tuple);
    const std::string proxy = opts.proxy_host + ":" + opts.proxy_port;
    if (wec && c.timed_out) co_return fail(Failure::timeout, "proxy " + proxy + ": CONNECT timed out");
    if (wec) co_return fail(Failure::connect, "proxy " + proxy + ": " + wec.message());
    beast::flat_buffer buf;
    bhttp::response_parser<bhttp::empty_body> parser;
    parser.skip(true);  // a 2xx answer to CONNECT has no body: the tunnel follows
    auto [rec, rn] = co_await bhttp::async_read_header(c.socket(), buf, parser, use_tuple);
    c.disarm();
    if (rec && c.timed_out) co_return fail(Failure::timeout, "proxy " + proxy + ": CONNECT timed out");
    if (rec) co_return fail(Failure::connect, "proxy " + proxy + ": no answer to CONNECT: " + rec.message());
    const auto& res = parser.get();
    if (res.result_int() / 100 != 2) {
      co_return fail(Failure::connect, "proxy " + proxy + ": " + std::to_string(res.result_int()) + " " +
                                           std::string(res.reason()) + " (CONNECT " + target + ")");
    }
    if (buf.size() != 0) co_return fail(Failure::protocol, "proxy " + proxy + ": data before the TLS handshake");
    co_return Response{};
  }

  std::string host_header_with_port() const { return url_host(opts.host) + ":" + opts.port; }

  // Fresh endpoints for the host (or the proxy). One resolve at a time, and
  // a failed one is remembered briefly: when the name does not resolve,
  // every request would otherwise queue its own lookup behind the
  // resolver's single thread (and a slow DNS server's timeouts), so a cycle
  // of failures would cost a query per group.
  asio::awaitable<Response> ensure_resolved(Call& call, Clock::time_point deadline) {
    while (endpoints.empty() || Clock::now() - resolved_at > kResolveCacheTtl) {
      if (resolve_failed_at != Clock::time_point{} && Clock::now() - resolve_failed_at < kResolveFailureTtl)
        co_return resolve_failure;
      if (resolving) {
        resolve_waiters.push_back(&call);
        call.resolve_wait = true;
        call.timer().expires_at(deadline);
        co_await call.timer().async_wait(use_tuple);
        call.resolve_wait = false;
        std::erase(resolve_waiters, &call);
        if (stopped) co_return fail(Failure::cancelled, "pool shut down");
        if (Clock::now() >= deadline)
          co_return fail(Failure::timeout, "resolve timed out after " + ms_text(opts.timeout));
        continue;
      }
      resolving = true;
      Response r = co_await resolve(call, deadline);
      resolving = false;
      for (Call* w : resolve_waiters) w->wake();
      if (r.failure == Failure::resolve) {
        resolve_failure = r;
        resolve_failed_at = Clock::now();
      }
      if (r.failure != Failure::none) co_return r;
    }
    co_return Response{};
  }

  // Into `out`, which a request's frame holds anyway (see run()).
  asio::awaitable<void> open_connection(Call& call, Lease& lease, Clock::time_point deadline, Response& out) {
    out = co_await connect(call, lease, deadline);
  }

  asio::awaitable<Response> connect(Call& call, Lease& lease, Clock::time_point deadline) {
    if (Response r = co_await ensure_resolved(call, deadline); r.failure != Failure::none) co_return r;
    lease.conn = std::make_shared<Connection>(ex, ctx ? &*ctx : nullptr);
    Connection& c = *lease.conn;
    call.active = &c;
    c.arm(deadline);
    auto [ec, ep] = co_await asio::async_connect(c.socket(), endpoints, use_tuple);
    c.disarm();
    if (ec) {
      const bool timed_out = c.timed_out;
      lease.drop_connection();
      call.active = nullptr;
      if (stopped) co_return fail(Failure::cancelled, "pool shut down");
      if (timed_out) co_return fail(Failure::timeout, "connect timed out after " + ms_text(opts.timeout));
      endpoints = {};  // the address may have moved: resolve again next time
      if (!opts.proxy_host.empty())
        co_return fail(Failure::connect,
                       "proxy: cannot connect to " + opts.proxy_host + ":" + opts.proxy_port + ": " + ec.message());
      co_return fail(Failure::connect, "cannot connect to " + opts.host + ":" + opts.port + ": " + ec.message());
    }
    ++connections_opened;
    c.socket().set_option(tcp::no_delay(true), ec);
    if (!opts.proxy_host.empty()) {
      Response t = co_await tunnel(c, deadline);
      if (t.failure != Failure::none) {
        lease.drop_connection();
        call.active = nullptr;
        if (stopped) co_return fail(Failure::cancelled, "pool shut down");
        co_return t;
      }
    }
    if (!c.tls) co_return Response{};
    // Asio asks OpenSSL to free a connection's record buffers whenever they
    // are empty, which is after every request on this path: two
    // allocations and frees per poll for 34 KiB a connection kept.
    SSL_clear_mode(c.tls->native_handle(), SSL_MODE_RELEASE_BUFFERS);

    if (sni && !SSL_set_tlsext_host_name(c.tls->native_handle(), opts.host.c_str())) {
      lease.drop_connection();
      call.active = nullptr;
      co_return fail(Failure::tls, "cannot set SNI host name");
    }
    c.arm(deadline);
    auto [hec] = co_await c.tls->async_handshake(ssl::stream_base::client, use_tuple);
    c.disarm();
    if (hec) {
      const bool timed_out = c.timed_out;
      std::string detail = "TLS handshake with " + opts.host + " failed: " + hec.message();
      const long vr = SSL_get_verify_result(c.tls->native_handle());
      if (vr != X509_V_OK) detail += std::string(": ") + X509_verify_cert_error_string(vr);
      lease.drop_connection();
      call.active = nullptr;
      if (stopped) co_return fail(Failure::cancelled, "pool shut down");
      if (timed_out) co_return fail(Failure::timeout, "TLS handshake timed out after " + ms_text(opts.timeout));
      co_return fail(Failure::tls, std::move(detail));
    }
    ++handshakes;
    co_return Response{};
  }

  // ---- one exchange ------------------------------------------------------

  struct Exchange {
    Response response;
    bool keep_alive = false;
    bool nothing_read = false;  // failed before any byte of an answer came
    Clock::time_point sent_at{};
  };

  void serialise(Connection& c, const Text& target, const Text& body, const RequestHead* head) {
    char len[24];
    auto [end, ec] = std::to_chars(len, len + sizeof len, body.size());
    (void)ec;
    std::string& o = c.out;
    o.clear();
    o.append("POST ");
    for (auto p : target.parts) o.append(p);
    o.append(" HTTP/1.1\r\nHost: ").append(host_header);
    o.append("\r\nUser-Agent: groupwatch/" GW_VERSION);
    if (!opts.agent_note.empty()) o.append(" (").append(opts.agent_note).append(")");
    o.append("\r\nContent-Type: ");
    o.append(head ? std::string_view(head->content_type) : std::string_view("application/json"));
    o.append("\r\nContent-Length: ").append(len, end).append("\r\n");
    if (head) o.append(head->headers);
    o.append("Connection: keep-alive\r\n\r\n");
    for (auto p : body.parts) o.append(p);
  }

  Response io_failure(const error_code& ec, bool timed_out, const char* step) {
    if (stopped) return fail(Failure::cancelled, "pool shut down");
    if (timed_out) return fail(Failure::timeout, std::string(step) + " timed out after " + ms_text(opts.timeout));
    if (ec == bhttp::error::body_limit || ec == bhttp::error::buffer_overflow)
      return fail(Failure::too_large, "answer body over " + std::to_string(opts.max_body_bytes) + " bytes");
    if (ec == bhttp::error::header_limit)
      return fail(Failure::too_large, "answer header over " + std::to_string(kHeaderLimit) + " bytes");
    if (is_reset_error(ec)) return fail(Failure::reset, std::string(step) + ": connection closed: " + ec.message());
    if (ec.category() == bhttp::make_error_code(bhttp::error::end_of_stream).category() ||
        ec == ssl::error::unexpected_result)
      return fail(Failure::protocol, std::string(step) + ": malformed answer: " + ec.message());
    return fail(Failure::reset, std::string(step) + ": " + ec.message());
  }

  // Writes the request and reads the answer. `gate` learns when the write
  // ended: from then on the request counts at the server.
  // Fills `x` (fresh) in place: returning it would put a copy of it in the
  // caller's frame for each of the two streams.
  template <class Stream>
  asio::awaitable<void> exchange(Stream& s, Connection& c, Clock::time_point deadline, Gate* gate, Exchange& x) {
    c.arm(deadline);
    ++requests;
    auto [wec, written] = co_await asio::async_write(s, asio::buffer(c.out), use_tuple);
    x.sent_at = Clock::now();
    if (gate) gate->sent();
    if (wec) {
      c.disarm();
      x.response = io_failure(wec, c.timed_out, "sending request");
      x.nothing_read = true;
      co_return;
    }
    if (!spare_bodies.empty()) {
      x.response.body = std::move(spare_bodies.back());
      spare_bodies.pop_back();
    }
    AnswerParser parser(x.response.body);
    parser.body_limit(opts.max_body_bytes);
    parser.header_limit(kHeaderLimit);
    auto [rec, read] = co_await bhttp::async_read(s, c.buffer, parser, use_tuple);
    c.disarm();
    if (rec) {
      x.response = io_failure(rec, c.timed_out, "reading answer");
      x.nothing_read = !parser.got_some();
      co_return;
    }
    // An answer delimited by the end of the stream leaves nothing to reuse.
    x.keep_alive = parser.keep_alive() && !parser.need_eof();
    x.response.status = parser.status();
    co_return;
  }

  // ---- post ----------------------------------------------------------------

  // Waits for the gate's permit with the connection ready: the permit is
  // taken as late as possible, right before the write.
  // A permit wait has no deadline of its own: the queue moves at the app's
  // rate, and a request admitted late still gets its full timeout.
  // For when try_admit() said no: a permit free at once costs no frame.
  asio::awaitable<Failure> admit(Call& call, Gate* gate) {
    call.timer().expires_at(Clock::time_point::max());
    call.gate = gate;
    gate->enqueue(&call);  // may admit at once
    if (!call.admitted_flag) co_await call.timer().async_wait(use_tuple);
    call.gate = nullptr;
    if (call.admitted_flag) co_return Failure::none;
    gate->dequeue(&call);
    co_return Failure::cancelled;
  }

  // `self` keeps the pool alive past ~Pool while the request runs.
  // GCC 12 sees Asio's frame allocation (aligned_alloc, released by the
  // frame's own operator delete with free) inlined here and takes them for
  // a mismatched pair: a false -Wmismatched-new-delete.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
  asio::awaitable<Response> run([[maybe_unused]] std::shared_ptr<Impl> self, Text target, Text body, Gate* gate,
                                const RequestHead* head) {
    if (!valid_target(target)) co_return fail(Failure::protocol, "invalid request target");
    if (stopped) co_return fail(Failure::cancelled, "pool shut down");
    auto deadline = Clock::now() + opts.timeout;
    Call call(*this);
    Acquired acq;
    if (std::optional<Acquired> ready = try_acquire()) {
      acq = std::move(*ready);
    } else {
      acq = co_await acquire(call, deadline);  // (not inside ?: -- GCC 12 miscompiles it)
    }
    if (acq.failure == Failure::timeout)
      co_return fail(Failure::timeout, "no free connection within " + ms_text(opts.timeout));
    if (acq.failure != Failure::none) co_return fail(acq.failure, "pool shut down");
    Lease lease(*this, std::move(acq.conn));
    const bool reused = lease.conn != nullptr;
    // The one answer of this frame, which the ways out below return (a
    // failed permit wait returns its own). Each Response of its own would
    // take room in the frame, and a frame over 1 KiB is not recycled by Asio.
    Exchange x;
    if (!reused) {
      co_await open_connection(call, lease, deadline, x.response);
      if (x.response.failure != Failure::none) co_return std::move(x.response);
    }
    if (gate && !gate->try_admit()) {
      if (Failure f = co_await admit(call, gate); f != Failure::none) co_return fail(f, "pool shut down");
    }
    if (stopped || (gate && !gate->may_write())) {
      if (gate) gate->sent();  // nothing left, but the permit ends here
      x.response = fail(Failure::cancelled, stopped ? "pool shut down" : "not allowed to send now");
      x.response.permit = gate != nullptr;
      co_return std::move(x.response);
    }
    deadline = Clock::now() + opts.timeout;
    Connection& c = *lease.conn;
    call.active = &c;
    serialise(c, target, body, head);
    if (c.tls) {
      co_await exchange(*c.tls, c, deadline, gate, x);
    } else {
      co_await exchange(*c.plain, c, deadline, gate, x);
    }
    call.active = nullptr;
    x.response.sent = true;
    x.response.permit = gate != nullptr;
    x.response.since_sent = Clock::now() - x.sent_at;
    if (x.response.failure == Failure::none) {
      lease.reusable = x.keep_alive;
      co_return std::move(x.response);
    }
    lease.drop_connection();
    // A keep-alive connection the server closed while it sat idle fails at
    // once with nothing read. The caller retries with a new permit: the
    // server may have read and counted this copy before closing.
    x.response.stale = reused && x.nothing_read && x.response.failure == Failure::reset;
    co_return std::move(x.response);
  }
#pragma GCC diagnostic pop

  void shutdown() {
    stopped = true;
    for (auto& c : idle) c->close();
    open -= idle.size();
    idle.clear();
    while (!waiters.empty()) {
      Call* w = waiters.front();
      waiters.pop_front();
      w->queued = false;
      w->wake();
    }
    for (Call* c = calls; c; c = c->next) {
      c->wake();
      if (c->resolver) c->resolver->cancel();
      if (c->active) c->active->close();
    }
    sweeper.cancel();
  }

  asio::any_io_executor ex;
  PoolOptions opts;
  std::optional<ssl::context> ctx;
  std::string host_header;
  bool sni = false;

  std::deque<ConnPtr> idle;  // oldest first; reuse takes the newest
  std::size_t open = 0;      // slots taken: idle + in use + being opened
  std::deque<Call*> waiters;
  Call* calls = nullptr;  // every post() in progress
  bool stopped = false;

  tcp::resolver::results_type endpoints;
  Clock::time_point resolved_at{};
  bool resolving = false;                 // a resolve is in progress
  std::vector<Call*> resolve_waiters;     // calls waiting for its outcome
  Response resolve_failure;               // the last resolve failure, reported
  Clock::time_point resolve_failed_at{};  // for kResolveFailureTtl after it

  asio::steady_timer sweeper;
  bool sweeping = false;

  std::uint64_t connections_opened = 0;
  std::uint64_t handshakes = 0;
  std::uint64_t requests = 0;
  // Answer bodies given back (recycle), empty, with their capacity.
  std::vector<std::string> spare_bodies;
};

Pool::Pool(asio::any_io_executor ex, PoolOptions opts)
    : impl_(std::make_shared<Impl>(std::move(ex), std::move(opts))) {}

Pool::~Pool() {
  impl_->shutdown();
}

asio::awaitable<Response> Pool::post(std::string target, std::string body, Gate* gate, const RequestHead* head) {
  co_return co_await send(Text{{target}}, Text{{body}}, gate, head);
}

// Not a coroutine itself: the request's one frame is run's.
asio::awaitable<Response> Pool::send(Text target, Text body, Gate* gate, const RequestHead* head) {
  return impl_->run(impl_, target, body, gate, head);
}

void Pool::recycle(std::string&& body) {
  constexpr std::size_t kMaxKept = 4096;
  auto& spare = impl_->spare_bodies;
  // A failed request's empty string holds no storage worth a place.
  if (body.capacity() < kBodyPadding || body.capacity() > kMaxKept || spare.size() >= impl_->opts.max_connections)
    return;
  body.clear();
  spare.push_back(std::move(body));
}

void Pool::shutdown() {
  impl_->shutdown();
}

PoolStats Pool::stats() const {
  PoolStats s;
  s.connections_opened = impl_->connections_opened;
  s.handshakes = impl_->handshakes;
  s.requests = impl_->requests;
  s.open = impl_->open;
  s.idle = impl_->idle.size();
  return s;
}

const PoolOptions& Pool::options() const {
  return impl_->opts;
}

}  // namespace groupwatch::http
