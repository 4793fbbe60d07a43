// Helpers of the fault tests.
#include "fault/fault.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <sstream>

#include "groupwatch/schedule/plan.hpp"
#include "groupwatch/tencent/usersig.hpp"

namespace gwfault {

Cfg config_for(const Emulator& e, const TempDir& dir, const std::string& interval) {
  Cfg c;
  c.endpoint = e.endpoint();
  c.ca_file = dir.file("ca.pem");
  e.write_ca(c.ca_file);
  c.groups_file = dir.file("groups.txt");
  c.state_dir = dir.file("state");
  c.interval = interval;
  return c;
}

Cfg ndjson_config_for(const Emulator& e, const TempDir& dir, const std::string& interval) {
  Cfg c = config_for(e, dir, interval);
  c.sinks = {ndjson_sink(dir.file("out.ndjson"))};
  return c;
}

Process start_run(const TempDir& dir, const Cfg& c) {
  dir.write("gw.yaml", yaml(c));
  return Process({GW_BIN, "run", "--config", dir.file("gw.yaml")}, dir.file("gw.out"), dir.file("gw.err"));
}

void reload(Process& gw, const TempDir& dir, const Cfg& c) {
  dir.write("gw.yaml", yaml(c));
  gw.signal(SIGHUP);
}

std::uint16_t admin_on_free_port(Cfg& c, const std::string& admin_lines) {
  c.admin_port = free_port();
  c.admin_lines = admin_lines;
  return c.admin_port;
}

::testing::AssertionResult log_says_within(const TempDir& dir, const std::string& what,
                                           std::chrono::milliseconds timeout) {
  if (wait_for([&] { return read_file(dir.file("gw.err")).find(what) != std::string::npos; }, timeout))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << read_file(dir.file("gw.err"));
}

::testing::AssertionResult results_within(const TempDir& dir, std::chrono::milliseconds timeout) {
  if (wait_for([&] { return !parse_ndjson(dir.file("out.ndjson")).empty(); }, timeout))
    return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << read_file(dir.file("gw.err"));
}

void expect_clean_exit(Process& gw, const TempDir& dir) {
  gw.signal(SIGTERM);
  EXPECT_EQ(gw.wait(30s), 0) << read_file(dir.file("gw.err"));
}

SmallTmpfs::SmallTmpfs(const TempDir& dir, const std::string& size) : path(dir.file("small")) {
  fs::create_directories(path);
  if (::mount("tmpfs", path.c_str(), "tmpfs", 0, ("size=" + size).c_str()) != 0)
    why_not = std::string("cannot mount a small tmpfs here (") + std::strerror(errno) + "): needs CAP_SYS_ADMIN";
}

SmallTmpfs::~SmallTmpfs() {
  if (why_not.empty()) ::umount2(path.c_str(), MNT_DETACH);
}

::testing::AssertionResult SmallTmpfs::fill() const {
  int fd = ::open((path + "/filler").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) return ::testing::AssertionFailure() << "cannot open " << path << "/filler: " << std::strerror(errno);
  std::string block(4096, 'x');
  while (::write(fd, block.data(), block.size()) > 0) {
  }
  ::close(fd);
  return ::testing::AssertionSuccess();
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
  if (c.admin_port != 0) y << "admin:\n  listen: 127.0.0.1:" << c.admin_port << "\n" << c.admin_lines;
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

Emulator emulator_for(const TempDir& dir, std::size_t n) {
  emu::Options o;
  groups_into(dir, o, "groups.txt", n);
  return Emulator(std::move(o));
}

Emulator logging_emulator_for(const TempDir& dir, std::size_t n, std::vector<std::string>& ids) {
  emu::Options o;
  o.request_log_file = dir.file("requests.jsonl");
  ids = groups_into(dir, o, "groups.txt", n);
  return Emulator(std::move(o));
}

AdminRun::AdminRun(std::size_t n, const std::string& interval)
    : e(emulator_for(dir, n)),
      c(ndjson_config_for(e, dir, interval)),
      admin(admin_on_free_port(c)),
      gw(start_run(dir, c)) {}

std::set<Key> ndjson_keys(const std::string& path, bool ok_only) {
  std::set<Key> out;
  for (auto& l : parse_ndjson(path))
    if (!ok_only || l.error_code == 0) out.insert({l.group_id, l.time});
  return out;
}

std::set<Key> postgres_keys(const Postgres& pg, bool ok_only) {
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

std::size_t postgres_rows(const Postgres& pg) {
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

std::string log_line_with(const std::string& log, const std::vector<std::string>& parts) {
  for (auto& l : lines_of(log)) {
    bool all = true;
    for (auto& p : parts) all = all && l.find(p) != std::string::npos;
    if (all) return l;
  }
  return "";
}

}  // namespace gwfault
