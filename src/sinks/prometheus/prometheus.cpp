// prometheus: groupwatch_group_online_members{app,group_id} and
// groupwatch_group_last_success_timestamp_seconds{app,group_id}, served on
// the sink's own listener. write() only updates a map under a mutex; the
// server thread renders it on each scrape.
#include "sinks/prometheus/prometheus.hpp"

#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::sinks::prometheus {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);
constexpr auto kTimeout = std::chrono::seconds(10);

std::string escape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

void log_exception(std::exception_ptr e) {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    log::error(events::task_failed, ex.what(), {{"task", "prometheus sink server"}});
  }
}

}  // namespace

std::string sanitize_label_name(std::string_view name) {
  std::string out;
  out.reserve(name.size() + 1);
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (c >= '0' && c <= '9');
    out += ok ? c : '_';
  }
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) out.insert(out.begin(), '_');
  return out;
}

namespace {

// {app="..",group_id="..",group_name="..",LABEL=".."}: the group's name and
// labels when it has them (a label whose sanitised name is one of the fixed
// ones is left out: it would make the series ambiguous).
std::string labels_of(const std::pair<std::string, std::string>& key, const Series& s) {
  std::string out = fmt::format("{{app=\"{}\",group_id=\"{}\"", escape(key.first), escape(key.second));
  if (s.meta) {
    if (!s.meta->name.empty()) out += fmt::format(",group_name=\"{}\"", escape(s.meta->name));
    for (const auto& [k, v] : s.meta->labels) {
      std::string name = sanitize_label_name(k);
      if (name == "app" || name == "group_id" || name == "group_name" || name.starts_with("__")) continue;
      out += fmt::format(",{}=\"{}\"", name, escape(v));
    }
  }
  out += '}';
  return out;
}

}  // namespace

std::string render(const std::map<std::pair<std::string, std::string>, Series>& series) {
  std::string out;
  out.reserve(series.size() * 180 + 400);
  std::vector<std::string> labels;
  labels.reserve(series.size());
  for (const auto& [k, s] : series) labels.push_back(labels_of(k, s));
  out +=
      "# HELP groupwatch_group_online_members Online members of the group at its latest successful poll.\n"
      "# TYPE groupwatch_group_online_members gauge\n";
  std::size_t i = 0;
  for (const auto& [k, s] : series) out += fmt::format("groupwatch_group_online_members{} {}\n", labels[i++], s.online);
  out +=
      "# HELP groupwatch_group_last_success_timestamp_seconds When the group last answered with a count (unix "
      "time).\n"
      "# TYPE groupwatch_group_last_success_timestamp_seconds gauge\n";
  i = 0;
  for (const auto& [k, s] : series)
    out += fmt::format("groupwatch_group_last_success_timestamp_seconds{} {:.3f}\n", labels[i++], s.last_success);
  return out;
}

struct PrometheusSink::Server {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;
  const PrometheusSink& sink;

  explicit Server(const PrometheusSink& s) : sink(s) {}

  asio::awaitable<void> accept_loop() {
    for (;;) {
      auto [ec, sock] = co_await acceptor.async_accept(tuple_awaitable);
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) continue;
      asio::co_spawn(io, session(std::move(sock)), log_exception);
    }
  }

  asio::awaitable<void> session(tcp::socket sock) {
    beast::tcp_stream stream(std::move(sock));
    beast::flat_buffer buffer(16 * 1024);
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.header_limit(8 * 1024);
      parser.body_limit(1024);
      stream.expires_after(kTimeout);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
      if (ec) break;
      const auto& req = parser.get();
      http::response<http::string_body> res{http::status::ok, req.version()};
      res.keep_alive(req.keep_alive());
      res.set(http::field::server, "groupwatch");
      std::string_view target(req.target().data(), req.target().size());
      target = target.substr(0, target.find('?'));
      if (req.method() != http::verb::get && req.method() != http::verb::head) {
        res.result(http::status::method_not_allowed);
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.body() = "only GET\n";
      } else if (target == "/metrics") {
        res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
        res.body() = sink.exposition();
      } else {
        res.result(http::status::not_found);
        res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.body() = "not found; try /metrics\n";
      }
      res.prepare_payload();
      if (req.method() == http::verb::head) res.body().clear();
      stream.expires_after(kTimeout);
      auto [wec, wn] = co_await http::async_write(stream, res, tuple_awaitable);
      if (wec || !res.keep_alive()) break;
    }
    boost::system::error_code ignored;
    stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
};

PrometheusSink::PrometheusSink(const std::string& listen) : server_(std::make_unique<Server>(*this)) {
  std::string why;
  const auto addr = parse_listen(listen, &why);
  if (!addr) throw std::runtime_error("prometheus: 'listen' must be HOST:PORT: " + why);
  const std::string& host = addr->host;
  boost::system::error_code ec;
  tcp::resolver resolver(server_->io);
  auto results =
      resolver.resolve(host, std::to_string(addr->port), tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || results.empty()) throw std::runtime_error("prometheus: cannot resolve '" + host + "': " + ec.message());
  auto ep = results.begin()->endpoint();
  auto& acc = server_->acceptor;
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) throw std::runtime_error("prometheus: cannot listen on " + listen + ": " + ec.message());
  log::info(events::admin_listening, "prometheus sink serving /metrics",
            {{"listen", ep.address().to_string() + ":" + std::to_string(acc.local_endpoint().port())}});
  asio::co_spawn(server_->io, server_->accept_loop(), log_exception);
  server_->thread = std::thread([s = server_.get()] { s->io.run(); });
}

PrometheusSink::~PrometheusSink() {
  server_->io.stop();
  if (server_->thread.joinable()) server_->thread.join();
}

void PrometheusSink::write(std::span<const sink::Result> batch) {
  std::lock_guard lk(mu_);
  for (const auto& r : batch) {
    if (r.error_code != 0 || !r.online_member_num) continue;  // keeps the last good count; its timestamp ages
    auto& s = series_[{r.app, r.group_id}];
    s.online = *r.online_member_num;
    s.meta = r.meta;
    double t = std::chrono::duration<double>(r.time.time_since_epoch()).count();
    if (t >= s.last_success) s.last_success = t;
  }
}

void PrometheusSink::forget(const std::string& app, const std::string& group_id) {
  std::lock_guard lk(mu_);
  series_.erase({app, group_id});
}

std::uint16_t PrometheusSink::port() const {
  return server_->acceptor.local_endpoint().port();
}

std::string PrometheusSink::exposition() const {
  std::lock_guard lk(mu_);
  return render(series_);
}

namespace {

class PrometheusSpec final : public sink::SinkSpec {
 public:
  explicit PrometheusSpec(Settings s) : s_(std::move(s)) {}
  std::string describe() const override { return "prometheus /metrics on " + s_.listen; }
  std::unique_ptr<sink::Sink> create(const sink::SinkContext&) const override {
    return std::make_unique<PrometheusSink>(s_.listen);
  }

 private:
  Settings s_;
};

}  // namespace

std::unique_ptr<sink::SinkSpec> parse(config::MapReader& r) {
  Settings s;
  int errors = r.diags().error_count();
  if (r.string("listen", s.listen, true)) {
    std::string why;
    if (!parse_listen(s.listen, &why))
      r.error_at("listen", "'listen' must be HOST:PORT (e.g. 127.0.0.1:9109), got '" + r.raw("listen") + "': " + why);
  }
  if (r.diags().error_count() != errors) return nullptr;
  return std::make_unique<PrometheusSpec>(std::move(s));
}

}  // namespace groupwatch::sinks::prometheus

GW_REGISTER_SINK(prometheus, ::groupwatch::sink::SinkFactory{
                                 "prometheus",
                                 "serves each group's latest count on /metrics for Prometheus to scrape",
                                 &::groupwatch::sinks::prometheus::parse,
                                 {{"listen", "HOST:PORT to serve /metrics on (required)"}}});
