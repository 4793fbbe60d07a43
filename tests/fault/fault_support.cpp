// Helpers of the fault tests. The integration harness and the sink tests'
// server helpers are compiled in here (each is its stage's *_support.cpp, so
// it is built only into that stage's binary otherwise).
#include "integration/harness_support.cpp"  // NOLINT(bugprone-suspicious-include)
#include "sink/servers_support.cpp"         // NOLINT(bugprone-suspicious-include)
// clang-format off
#include "fault/fault.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
// clang-format on

#include <pthread.h>
#include <sched.h>

#include <future>
#include <sstream>

#include <boost/asio/post.hpp>

#include "groupwatch/schedule/plan.hpp"
#include "groupwatch/tencent/usersig.hpp"

namespace gwfault {

double now_unix() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void sleep_s(double seconds) {
  if (seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
}

void sleep_until_cycle_offset(double interval, double offset) {
  double t = now_unix();
  double next = std::floor(t / interval) * interval + interval + offset;
  if (next - t > interval) next -= interval;
  sleep_s(next - t);
}

Emu::Emu(emu::Options o, std::uint16_t port) {
  o.address = "127.0.0.1";
  o.port = port;
  if (o.apps.empty()) o.apps.push_back({kAppId, kKey, "administrator", 200});
  server_ = std::make_unique<emu::Server>(io_, std::move(o));
  port_ = server_->start();
  thread_ = std::thread([this] {
    // The emulator stands for the vendor's servers, which count a request
    // when it arrives. On two cores beside two sanitized daemons a thread of
    // normal priority can wait tens of ms for a CPU and count requests late,
    // bunched into a second the wire never held. At real-time priority its
    // reads follow the arrivals. Without the privilege it stays as it is.
    sched_param p{};
    p.sched_priority = 1;
    (void)pthread_setschedparam(pthread_self(), SCHED_FIFO, &p);
    io_.run();
  });
}

Emu::~Emu() {
  stop();
}

void Emu::stop() {
  if (stopped_) return;
  stopped_ = true;
  server_->stop();
  // stop() hands its work to the server's thread: let that run (the listener
  // is closed and the port free) before the thread is stopped.
  std::promise<void> done;
  boost::asio::post(io_, [&done] { done.set_value(); });
  done.get_future().wait_for(std::chrono::seconds(2));
  io_.stop();
  thread_.join();
}

void Emu::write_ca(const std::string& path) const {
  std::ofstream(path) << server_->ca_pem();
}

Cfg config_for(const Emu& e, const TempDir& dir) {
  Cfg c;
  c.endpoint = e.endpoint();
  c.ca_file = dir.file("ca.pem");
  e.write_ca(c.ca_file);
  c.groups_file = dir.file("groups.txt");
  c.state_dir = dir.file("state");
  return c;
}

std::string yaml(const Cfg& c) {
  std::ostringstream y;
  y << "apps:\n"
    << "  - name: test\n"
    << "    sdkappid: " << kAppId << "\n"
    << "    admin: administrator\n"
    << "    " << c.secret << "\n"
    << "    endpoint: " << c.endpoint << "\n";
  if (!c.ca_file.empty()) y << "    ca_file: " << c.ca_file << "\n";
  y << "    qps: " << c.qps << "\n"
    << "    group_files: [" << c.groups_file << "]\n"
    << c.extra_app << "poll:\n"
    << "  interval: " << c.interval << "\n"
    << "  timeout: " << c.timeout << "\n";
  if (c.retries >= 0) y << "  retries: " << c.retries << "\n";
  if (!c.grace.empty()) y << "  grace: " << c.grace << "\n";
  y << c.extra_top << "state_dir: " << c.state_dir << "\n"
    << "sinks:\n";
  for (const auto& s : c.sinks) y << s;
  return y.str();
}

std::map<std::string, double> slot_offsets(std::vector<std::string> ids, double interval) {
  groupwatch::schedule::sort_by_slot(ids);
  std::map<std::string, double> out;
  auto iv = std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(interval));
  for (std::size_t k = 0; k < ids.size(); ++k)
    out[ids[k]] = std::chrono::duration<double>(groupwatch::schedule::slot_offset(k, ids.size(), iv)).count();
  return out;
}

std::string ndjson_sink(const std::string& path) {
  return "  - type: ndjson\n    path: " + path + "\n    flush_interval: 100ms\n";
}

std::string postgres_sink(const std::string& dsn, const std::string& extra) {
  return "  - type: postgres\n    dsn: \"" + dsn + "\"\n" + extra;
}

std::vector<std::string> groups_into(const TempDir& dir, emu::Options& o, const std::string& name, std::size_t n,
                                     std::uint64_t seed) {
  auto ids = write_groups(dir, name, n, seed);
  for (auto& id : ids) o.groups.push_back({id});
  return ids;
}

std::set<Key> ndjson_keys(const std::string& path, bool ok_only) {
  std::set<Key> out;
  for (auto& l : parse_ndjson(path))
    if (!ok_only || l.error_code == 0) out.insert({l.group_id, l.time});
  return out;
}

std::set<Key> postgres_keys(const servers::Postgres& pg, bool ok_only) {
  std::string sql =
      "SELECT group_id || ' ' || to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') FROM samples";
  if (ok_only) sql += " WHERE error_code = 0";
  std::set<Key> out;
  for (auto& l : lines_of(pg.psql(sql))) {
    auto sp = l.find(' ');
    if (sp != std::string::npos) out.insert({l.substr(0, sp), l.substr(sp + 1)});
  }
  return out;
}

std::size_t postgres_rows(const servers::Postgres& pg) {
  auto n = pg.psql("SELECT CASE WHEN to_regclass('samples') IS NULL THEN 0 ELSE (SELECT count(*) FROM samples) END");
  return static_cast<std::size_t>(std::stoull(n));
}

std::vector<std::string> usersigs_between(std::int64_t t0, std::int64_t t1, std::int64_t ttl) {
  std::vector<std::string> out;
  for (auto t = t0; t <= t1; ++t) {
    out.push_back(groupwatch::tencent::make_usersig(kKey, kAppId, "administrator", ttl, t));
    out.push_back(groupwatch::tencent::usersig_hmac(kKey, "administrator", kAppId, t, ttl));
  }
  return out;
}

std::string http_get(const std::string& url) {
  auto r = servers::run({"curl", "-s", "--max-time", "10", url});
  return r.status == 0 ? r.output : "";
}

std::string log_line_with(const std::string& log, const std::vector<std::string>& parts) {
  for (auto& l : lines_of(log)) {
    bool all = true;
    for (auto& p : parts) all = all && l.find(p) != std::string::npos;
    if (all) return l;
  }
  return "";
}

std::uint16_t free_port() {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor a(io, {boost::asio::ip::make_address("127.0.0.1"), 0});
  return a.local_endpoint().port();
}

bool wait_for(const std::function<bool()>& done, std::chrono::milliseconds limit) {
  auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return done();
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto p = text.find(what); p != std::string::npos; p = text.find(what, p + 1)) ++n;
  return n;
}

}  // namespace gwfault
