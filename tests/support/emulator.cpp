#include "support/emulator.hpp"

#include <pthread.h>
#include <sched.h>

#include <ctime>
#include <fstream>
#include <future>

#include <simdjson.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

namespace gw_test {

namespace emu = groupwatch::emulator;

Emulator::Emulator(emu::Options o, std::uint16_t port) : io_(std::make_unique<boost::asio::io_context>(1)) {
  o.address = "127.0.0.1";
  o.port = port;
  if (o.apps.empty()) o.apps.push_back({kAppId, kKey, "administrator", 200});
  server_ = std::make_unique<emu::Server>(*io_, std::move(o));
  port_ = server_->start();
  thread_ = std::thread([this] {
    // The emulator counts a request when the kernel received it (its
    // arrival stamp), so a thread that waits for a CPU no longer counts
    // requests late. Real-time priority, where allowed, still keeps its
    // answers prompt beside two sanitized daemons on two cores.
    sched_param p{};
    p.sched_priority = 1;
    (void)pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
    io_->run();
  });
}

Emulator::~Emulator() {
  stop();
}

void Emulator::stop() {
  if (stopped_) return;
  stopped_ = true;
  server_->stop();
  // stop() hands its work to the server's thread: let that run (the listener
  // is closed and the port free) before the thread is stopped.
  std::promise<void> done;
  boost::asio::post(*io_, [&done] { done.set_value(); });
  done.get_future().wait_for(std::chrono::seconds(2));
  io_->stop();
  thread_.join();
}

void Emulator::write_ca(const std::string& path) const {
  std::ofstream(path) << server_->ca_pem();
}

std::vector<std::string> write_groups(const TempDir& dir, const std::string& name, std::size_t n, std::uint64_t seed) {
  auto ids = emu::generate_group_ids(n, seed);
  std::ofstream f(dir.path() / name);
  for (auto& id : ids) f << id << "\n";
  return ids;
}

double parse_rfc3339(std::string_view s) {
  // 2026-11-25T16:40:00.123Z
  std::tm tm{};
  if (s.size() < 20) return 0;
  tm.tm_year = std::stoi(std::string(s.substr(0, 4))) - 1900;
  tm.tm_mon = std::stoi(std::string(s.substr(5, 2))) - 1;
  tm.tm_mday = std::stoi(std::string(s.substr(8, 2)));
  tm.tm_hour = std::stoi(std::string(s.substr(11, 2)));
  tm.tm_min = std::stoi(std::string(s.substr(14, 2)));
  tm.tm_sec = std::stoi(std::string(s.substr(17, 2)));
  double frac = 0;
  if (s.size() > 20 && s[19] == '.') frac = std::stod("0" + std::string(s.substr(19, s.find('Z') - 19)));
  return static_cast<double>(::timegm(&tm)) + frac;
}

std::vector<Req> parse_request_log(const std::string& path) {
  std::vector<Req> out;
  simdjson::ondemand::parser parser;
  for (auto& l : lines_of(read_file(path))) {
    simdjson::padded_string p(l);
    try {
      auto doc = parser.iterate(p);
      Req r;
      r.t = parse_rfc3339(std::string_view(doc["time"]));
      if (auto conn = doc.find_field_unordered("conn"); !conn.error()) r.conn = std::uint64_t(conn.value());
      auto g = doc["group"];
      if (!g.is_null()) r.group = std::string(std::string_view(g));
      auto code = doc.find_field_unordered("code");
      r.code = code.error() ? -1 : std::int64_t(code.value());
      out.push_back(std::move(r));
    } catch (const simdjson::simdjson_error&) {
    }
  }
  return out;
}

std::vector<Line> parse_ndjson(const std::string& path, std::size_t* bad_lines) {
  std::vector<Line> out;
  simdjson::ondemand::parser parser;
  std::string text = read_file(path);
  if (bad_lines) *bad_lines = 0;
  if (!text.empty() && text.back() != '\n' && bad_lines) ++*bad_lines;  // a partial last line
  for (auto& l : lines_of(text)) {
    simdjson::padded_string p(l);
    Line r;
    try {
      auto doc = parser.iterate(p);
      r.time = std::string(std::string_view(doc["time"]));
      r.group_id = std::string(std::string_view(doc["group_id"]));
      auto n = doc["online_member_num"];
      r.has_count = !n.is_null();
      r.error_code = std::int64_t(doc["error_code"]);
      if (auto name = doc.find_field_unordered("group_name"); !name.error() && !name.is_null())
        r.group_name = std::string(std::string_view(name.value()));
      if (auto app = doc.find_field_unordered("app"); !app.error()) r.app = std::string(std::string_view(app.value()));
    } catch (const simdjson::simdjson_error&) {
      if (bad_lines) ++*bad_lines;
      continue;
    }
    out.push_back(r);
  }
  return out;
}

}  // namespace gw_test
