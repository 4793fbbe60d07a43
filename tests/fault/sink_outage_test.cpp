// The PostgreSQL sink down while the engine polls: nothing lost, nothing
// twice, polling never pauses; a kill -9 during the outage loses nothing
// spooled; SIGTERM with a full spool exits cleanly with an intact spool.
#include <gtest/gtest.h>

#include <sys/stat.h>

#include <iostream>

#include "delivery/spool.hpp"
#include "fault/fault.hpp"
#include "groupwatch/util/text.hpp"

using namespace gwfault;

namespace {

std::uint64_t file_size(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_size) : 0;
}

// Every record in a spool file, as keys; `corrupt` gets the bytes cut off.
std::set<Key> spool_keys(const std::string& path, std::uint64_t* corrupt = nullptr) {
  groupwatch::delivery::detail::Spool spool(path);
  if (corrupt) *corrupt = spool.corrupt_bytes();
  std::set<Key> out;
  std::uint64_t bytes = 0;
  auto all = spool.read_front(spool.pending(), bytes);
  for (auto& r : all) out.insert({r.group_id, groupwatch::format_rfc3339_ms(r.time)});
  return out;
}

std::size_t count_before(const std::set<Key>& keys, double t) {
  std::size_t n = 0;
  for (auto& k : keys) n += parse_rfc3339(k.time) < t;
  return n;
}

struct OutageFigures {
  std::size_t results = 0;
  std::size_t rows = 0;
  std::uint64_t ok_answers = 0;
  double catch_up_s = -1;
  std::size_t min_requests_per_s = 0;
};

// `groups` groups every `interval` s into PostgreSQL (and ndjson as the
// reference); PostgreSQL is down for `outage` s after the first cycle.
OutageFigures postgres_outage(std::size_t groups, int interval, double outage) {
  OutageFigures f;
  Postgres pg;
  pg.start();
  TempDir dir;
  emu::Options o;
  o.request_log_file = dir.file("requests.jsonl");
  auto ids = groups_into(dir, o, "groups.txt", groups);
  Emulator e(o);
  Cfg c = config_for(e, dir);
  c.interval = std::to_string(interval) + "s";
  c.sinks = {postgres_sink(pg.dsn(), "    flush_interval: 200ms\n    retry_min: 200ms\n    retry_max: 2s\n"),
             ndjson_sink(dir.file("out.ndjson"))};
  Process gw = start_run(dir, c);
  sleep_s(interval + 1.5);
  EXPECT_GT(postgres_rows(pg), groups / 2);  // delivering before the outage
  const double down_at = now_unix();
  pg.stop(/*crash=*/true);
  sleep_s(down_at + outage - now_unix());
  // Results spooled meanwhile.
  EXPECT_GT(file_size(dir.file("state/spool/postgres.wal")), 0u);
  pg.start();
  const double up_at = now_unix();
  // Catching up: everything answered before the restart reaches the table.
  for (;;) {
    auto expected = count_before(ndjson_keys(dir.file("out.ndjson"), false), up_at);
    auto got =
        std::stoull(pg.psql("SELECT count(*) FROM samples WHERE time < to_timestamp(" + std::to_string(up_at) + ")"));
    if (got >= expected) {
      f.catch_up_s = now_unix() - up_at;
      break;
    }
    if (now_unix() - up_at > 40) break;
    sleep_s(0.2);
  }
  EXPECT_GE(f.catch_up_s, 0) << "the backlog did not reach PostgreSQL within 40 s";
  sleep_s(interval + 0.5);  // one more cycle after the restart
  expect_clean_exit(gw, dir);
  e.stop();

  auto reference = ndjson_keys(dir.file("out.ndjson"), false);
  auto rows = postgres_keys(pg, false);
  f.results = reference.size();
  f.rows = rows.size();
  f.ok_answers = e.server().stats().codes[0];
  EXPECT_EQ(std::stoull(pg.psql("SELECT count(*) FROM samples")), rows.size());
  EXPECT_EQ(rows, reference);  // every result, exactly once
  EXPECT_EQ(postgres_keys(pg, true).size(), f.ok_answers);
  // Every group has a row for each cycle that lay wholly inside the outage.
  std::map<std::string, int> during;
  for (auto& k : rows) {
    double t = parse_rfc3339(k.time);
    if (t >= down_at && t < down_at + outage) ++during[k.group];
  }
  int full_cycles = static_cast<int>(std::floor(outage / interval)) - 1;
  for (auto& id : ids) EXPECT_GE(during[id], full_cycles) << id;
  // Polling went on: requests every second of the outage.
  std::map<int, std::size_t> per_second;
  for (auto& r : parse_request_log(dir.file("requests.jsonl")))
    if (r.t >= down_at && r.t < down_at + outage) ++per_second[static_cast<int>(r.t - down_at)];
  f.min_requests_per_s = SIZE_MAX;
  for (int s = 0; s < static_cast<int>(outage); ++s)
    f.min_requests_per_s = std::min(f.min_requests_per_s, per_second[s]);
  double fair = static_cast<double>(groups) / interval;
  EXPECT_GE(static_cast<double>(f.min_requests_per_s), fair / 3) << "polling paused during the outage";
  auto st = e.server().stats();
  EXPECT_EQ(st.codes[60007], 0u);
  auto err = read_file(dir.file("gw.err"));
  EXPECT_NE(err.find("sink.failed"), std::string::npos);
  EXPECT_NE(err.find("sink.recovered"), std::string::npos);
  return f;
}

}  // namespace

// PostgreSQL down for `down` s while `groups` groups are polled every
// `interval` s: nothing is lost. Prints the figures as `figures`.
void expect_outage_loses_nothing(std::size_t groups, int interval, double down, const char* figures) {
  if (auto why = postgres_unavailable(); !why.empty()) GTEST_SKIP() << why;
  auto f = postgres_outage(groups, interval, down);
  std::cout << "FIGURES " << figures << " results=" << f.results << " rows=" << f.rows << " ok_answers=" << f.ok_answers
            << " catch_up_s=" << f.catch_up_s << " min_requests_per_s_during_outage=" << f.min_requests_per_s << "\n";
}

TEST(SinkOutage, PostgresDownForTwoCyclesLosesNothing) {
  expect_outage_loses_nothing(200, 5, 10, "pg_outage_200x5s_10s");
}

// The sinks issue's own outage test: 500 groups every 10 s, PostgreSQL down 60 s.
TEST(SinkOutage, PostgresDownSixtySecondsAt500GroupsLosesNothing) {
  expect_outage_loses_nothing(500, 10, 60, "pg_outage_500x10s_60s");
}

// kill -9 while PostgreSQL is down: what was spooled is delivered after the
// restart (by `once`, which replays the spool first).
TEST(SinkOutage, KillDuringOutageThenRestartDeliversTheSpool) {
  if (auto why = postgres_unavailable(); !why.empty()) GTEST_SKIP() << why;
  Postgres pg;
  pg.start();
  TempDir dir;
  emu::Options o;
  auto ids = groups_into(dir, o, "groups.txt", 200);
  Emulator e(o);
  Cfg c = config_for(e, dir);
  c.interval = "4s";
  c.sinks = {postgres_sink(pg.dsn(), "    flush_interval: 200ms\n    retry_min: 200ms\n    retry_max: 1s\n"),
             ndjson_sink(dir.file("out.ndjson"))};
  dir.write("gw.yaml", yaml(c));
  const std::string wal = dir.file("state/spool/postgres.wal");
  double down_at = 0, killed_at = 0;
  {
    Process gw({GW_BIN, "run", "--config", dir.file("gw.yaml")}, dir.file("gw.out"), dir.file("gw.err"));
    sleep_s(5);
    down_at = now_unix();
    pg.stop(/*crash=*/true);
    sleep_s(4);
    ASSERT_GT(file_size(wal), 0u) << read_file(dir.file("gw.err"));
    gw.signal(SIGKILL);
    EXPECT_EQ(gw.wait(10s), 128 + SIGKILL);
    killed_at = now_unix();
  }
  const auto wal_bytes = file_size(wal);
  std::uint64_t corrupt = 0;
  auto spooled = spool_keys(wal, &corrupt);
  EXPECT_EQ(corrupt, 0u);
  EXPECT_GT(spooled.size(), 100u);
  // Everything answered during the outage (but not in its last second, which
  // may have been in memory still) is in the spool.
  std::size_t outage_results = 0;
  for (auto& k : ndjson_keys(dir.file("out.ndjson"), false)) {
    double t = parse_rfc3339(k.time);
    if (t > down_at + 1 && t < killed_at - 1.5) {
      ++outage_results;
      EXPECT_TRUE(spooled.count(k)) << k.group << " " << k.time << " not spooled";
    }
  }
  pg.start();
  auto r = run({GW_BIN, "once", "--quiet", "--config", dir.file("gw.yaml")}, {.timeout = 60s});
  EXPECT_EQ(r.status, 0) << r.err;
  EXPECT_NE(r.err.find("delivering results spooled by a previous run"), std::string::npos) << r.err;
  auto rows = postgres_keys(pg, false);
  std::size_t missing = 0;
  for (auto& k : spooled) missing += rows.count(k) == 0;
  EXPECT_EQ(missing, 0u);
  EXPECT_EQ(file_size(wal), 0u);  // the spool was consumed
  std::cout << "FIGURES crash wal_bytes=" << wal_bytes << " spooled=" << spooled.size()
            << " outage_results_checked=" << outage_results << " missing_after_restart=" << missing << "\n";
}

// SIGTERM while the sink is down and its spool is at its 8 KiB cap: a clean
// exit within the grace, an intact spool that a restart replays, and the
// drops counted in the log.
TEST(SinkOutage, SigtermWithAFullSpoolExitsCleanly) {
  if (auto why = postgres_unavailable(); !why.empty()) GTEST_SKIP() << why;
  Postgres pg;  // not started yet: the sink is down
  TempDir dir;
  emu::Options o;
  auto ids = groups_into(dir, o, "groups.txt", 300);
  Emulator e(o);
  Cfg c = config_for(e, dir, "2s");
  c.grace = "5s";
  c.sinks = {postgres_sink(pg.dsn(),
                           "    flush_interval: 200ms\n    spool_max_bytes: 8KiB\n    when_full: drop_oldest\n"
                           "    retry_min: 200ms\n    retry_max: 1s\n")};
  dir.write("gw.yaml", yaml(c));
  const std::string wal = dir.file("state/spool/postgres.wal");
  Process gw({GW_BIN, "run", "--config", dir.file("gw.yaml")}, dir.file("gw.out"), dir.file("gw.err"));
  sleep_s(5);
  const double t = now_unix();
  gw.signal(SIGTERM);
  ASSERT_EQ(gw.wait(20s), 0) << read_file(dir.file("gw.err"));
  const double took = now_unix() - t;
  EXPECT_LT(took, 5.0 + 1.0);  // within the grace
  auto wal_bytes = file_size(wal);
  EXPECT_GT(wal_bytes, 0u);
  EXPECT_LE(wal_bytes, 8192u);
  std::uint64_t corrupt = 0;
  auto spooled = spool_keys(wal, &corrupt);
  EXPECT_EQ(corrupt, 0u);
  EXPECT_GT(spooled.size(), 10u);
  auto err = read_file(dir.file("gw.err"));
  auto drop_line = log_line_with(err, {"sink.dropped", "count="});
  EXPECT_FALSE(drop_line.empty()) << err;
  // The total dropped in the run is on the shutdown summary.
  auto summary = log_line_with(err, {"dropped="});
  EXPECT_FALSE(summary.empty()) << err;
  std::uint64_t answered = e.server().stats().codes[0];
  // A restart replays what is there.
  pg.start();
  auto r = run({GW_BIN, "once", "--quiet", "--config", dir.file("gw.yaml")}, {.timeout = 60s});
  EXPECT_EQ(r.status, 0) << r.err;
  auto rows = postgres_keys(pg, false);
  std::size_t missing = 0;
  for (auto& k : spooled) missing += rows.count(k) == 0;
  EXPECT_EQ(missing, 0u);
  std::cout << "FIGURES full_spool sigterm_exit_s=" << took << " wal_bytes=" << wal_bytes
            << " spooled=" << spooled.size() << " answered=" << answered << " replayed_missing=" << missing
            << " drop_line=" << drop_line << " summary=" << summary << "\n";
}
