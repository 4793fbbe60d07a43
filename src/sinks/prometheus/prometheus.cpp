// prometheus: groupwatch_group_online_members{app,group_id} and
// groupwatch_group_last_success_timestamp_seconds{app,group_id}, served on
// the sink's own listener (the one http::Server on a thread of its own).
// write() only updates a map under a mutex; the server thread renders it on
// each scrape.
#include "sinks/prometheus/prometheus.hpp"

#include <stdexcept>
#include <string_view>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/io_context.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/verb.hpp>

#include "groupwatch/http/server.hpp"
#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::sinks::prometheus {

namespace asio = boost::asio;
namespace bhttp = boost::beast::http;

namespace {

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

namespace {

http::Reply scrape(const PrometheusSink& sink, const http::Request& req) {
  http::Reply res{bhttp::status::ok, req.version()};
  res.set(bhttp::field::server, "groupwatch");
  std::string_view target(req.target().data(), req.target().size());
  target = target.substr(0, target.find('?'));
  if (req.method() != bhttp::verb::get && req.method() != bhttp::verb::head) {
    res.result(bhttp::status::method_not_allowed);
    res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
    res.body() = "only GET\n";
  } else if (target == "/metrics") {
    res.set(bhttp::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
    res.body() = sink.exposition();
  } else {
    res.result(bhttp::status::not_found);
    res.set(bhttp::field::content_type, "text/plain; charset=utf-8");
    res.body() = "not found; try /metrics\n";
  }
  res.prepare_payload();
  if (req.method() == bhttp::verb::head) res.body().clear();
  return res;
}

}  // namespace

// The server runs on its own thread: scrapes never wait for the daemon's loop.
struct PrometheusSink::Server {
  asio::io_context io{1};
  http::Server server;
  std::thread thread;

  explicit Server(const PrometheusSink& sink)
      : server(io,
               http::ServerHandlers{
                   .request = [&sink](const http::Request& req,
                                      std::uint64_t) { return http::Answer{.reply = scrape(sink, req)}; }},
               http::ServerOptions{.name = "prometheus sink server",
                                   .request_timeout = kTimeout,
                                   .idle_timeout = kTimeout,
                                   .max_connections = 256}) {}
};

PrometheusSink::PrometheusSink(const std::string& listen) : server_(std::make_unique<Server>(*this)) {
  // The config check refused a malformed address already.
  const auto bound = server_->server.listen_on(listen, "prometheus");
  log::info(events::admin_listening, "prometheus sink serving /metrics", {{"listen", bound.text()}});
  server_->thread = std::thread([s = server_.get()] { s->io.run(); });
}

PrometheusSink::~PrometheusSink() {
  server_->io.stop();
  if (server_->thread.joinable()) server_->thread.join();
}

void PrometheusSink::write(std::span<const delivery::Result> batch) {
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
  return server_->server.port();
}

std::string PrometheusSink::exposition() const {
  std::lock_guard lk(mu_);
  return render(series_);
}

namespace {

class PrometheusSpec final : public delivery::SpecOf<Settings> {
 public:
  using SpecOf::SpecOf;
  std::string describe() const override { return "prometheus /metrics on " + s_.listen; }
  std::unique_ptr<delivery::Sink> create(const delivery::SinkContext&) const override {
    return std::make_unique<PrometheusSink>(s_.listen);
  }
};

}  // namespace

std::unique_ptr<delivery::SinkSpec> parse(config::MapReader& r) {
  return delivery::make_spec<PrometheusSpec, Settings>(r, [&](Settings& s) {
    std::string why;
    if (r.string("listen", s.listen, true) && !parse_listen(s.listen, &why))
      r.error_at("listen", "'listen' must be HOST:PORT (e.g. 127.0.0.1:9109), got '" + r.raw("listen") + "': " + why);
  });
}

}  // namespace groupwatch::sinks::prometheus

GW_REGISTER_SINK(prometheus, "serves each group's latest count on /metrics for Prometheus to scrape",
                 {{"listen", "HOST:PORT to serve /metrics on (required)"}});
