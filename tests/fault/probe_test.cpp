// What an adversarial probe broke (issue: hangs, poison input, reloads that
// stall or kill the daemon), each against the real binary and emulator.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "delivery/spool.hpp"
#include "fault/fault.hpp"
#include "groupwatch/util/text.hpp"

using namespace gwfault;

// Item 5: a group ID with a 0xFF byte passed check and poisoned PostgreSQL
// batches for good. It is refused where it enters, with file and line.
TEST(Probe, AnInvalidUtf8GroupIdIsRefusedWithFileAndLine) {
  TempDir dir;
  Emulator e = emulator_for(dir, 3);
  std::ofstream(dir.file("groups.txt"), std::ios::app) << "@TGS#_@TGS#BAD\xffUTF8\n";
  Cfg c = ndjson_config_for(e, dir);
  dir.write("gw.yaml", yaml(c));
  auto r = run({GW_BIN, "check", "--config", dir.file("gw.yaml")});
  EXPECT_EQ(r.status, 2);
  EXPECT_NE(r.err.find(dir.file("groups.txt") + ":4:1: error: group ID is not valid UTF-8"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find('\xff'), std::string::npos) << "the raw byte reached the terminal";
}

// Item 9: a watchlist swapped for a FIFO or for a symlink to /dev/zero, then
// SIGHUP: the reload is refused naming the file, polling and the admin
// server go on (a FIFO used to block the loop, /dev/zero to kill it).
TEST(Probe, AReloadOntoAFifoOrDevZeroIsRefusedAndNothingStalls) {
  AdminRun r(20, "2s");
  ASSERT_TRUE(results_within(r.dir, 20s));
  auto healthz = [&] {
    return run({"/usr/bin/curl", "-s", "-m", "2", "-o", "/dev/null", "-w", "%{http_code}",
                "http://127.0.0.1:" + std::to_string(r.admin) + "/healthz"},
               {.timeout = 5s})
        .out;
  };
  std::size_t refusals = 0;
  for (const char* kind : {"fifo", "zero"}) {
    fs::remove(r.dir.file("groups.txt"));
    if (std::string(kind) == "fifo") {
      ASSERT_EQ(::mkfifo(r.dir.file("groups.txt").c_str(), 0600), 0);
    } else {
      fs::create_symlink("/dev/zero", r.dir.file("groups.txt"));
    }
    r.gw.signal(SIGHUP);
    ++refusals;
    ASSERT_TRUE(wait_for([&] { return count_of(read_file(r.dir.file("gw.err")), "reload refused") >= refusals; }, 10s))
        << kind << "\n"
        << read_file(r.dir.file("gw.err"));
    EXPECT_EQ(healthz(), "200") << kind;
    EXPECT_EQ(r.gw.wait(0ms), -1) << kind << ": the daemon died\n" << read_file(r.dir.file("gw.err"));
  }
  EXPECT_NE(read_file(r.dir.file("gw.err")).find("is not a regular file"), std::string::npos);
  // Polling went on with the old watchlist.
  const auto before = parse_ndjson(r.dir.file("out.ndjson")).size();
  std::this_thread::sleep_for(2500ms);
  EXPECT_GT(parse_ndjson(r.dir.file("out.ndjson")).size(), before);
  expect_clean_exit(r.gw, r.dir);
}

// Item 11: the vendor's clock two days ahead (UserSigs live one day): every
// signature is "expired". One clear error naming the clock, the app paused,
// at most two requests per group (the first, and one with a renewed
// signature), not eleven.
TEST(Probe, AClockSkewedAgainstTheVendorPausesTheAppWithOneClearError) {
  TempDir dir;
  emu::Options o;
  groups_into(dir, o, "groups.txt", 30);
  o.clock = [] { return std::chrono::system_clock::now() + std::chrono::hours(48); };
  Emulator e(o);
  Cfg c = ndjson_config_for(e, dir, "2s");
  Process gw = start_run(dir, c);
  std::this_thread::sleep_for(6s);
  gw.signal(SIGTERM);
  EXPECT_EQ(gw.wait(30s), 0);
  const auto err = read_file(dir.file("gw.err"));
  std::size_t skew_lines = 0;
  for (const auto& l : lines_of(err))
    if (l.find("event=app.paused") != std::string::npos && l.find("clock") != std::string::npos) ++skew_lines;
  EXPECT_EQ(skew_lines, 1u) << err;
  const auto requests = e.server().stats().requests;
  EXPECT_LE(requests, 2u * 30u) << "retries were not bounded";
  EXPECT_GE(requests, 1u);
  for (const auto& r : parse_ndjson(dir.file("out.ndjson"))) EXPECT_EQ(r.error_code, 70001);
}

// Item 13: with the disk full (not the spool's cap), the log says "disk
// full", not "spool full".
TEST(Probe, AFullDiskUnderTheSpoolIsNamedAsSuch) {
  TempDir dir;
  SmallTmpfs small(dir, "512k");
  if (!small.why_not.empty()) GTEST_SKIP() << small.why_not;
  const std::string& mnt = small.path;
  Emulator e = emulator_for(dir, 100);
  Cfg c = config_for(e, dir);
  c.interval = "1s";
  c.state_dir = mnt + "/state";
  c.sinks = {
      postgres_sink("host=127.0.0.1 port=1 dbname=x connect_timeout=1", "    retry_min: 5s\n    retry_max: 5s\n")};
  Process gw = start_run(dir, c);
  ASSERT_TRUE(log_says_within(dir, "event=sink.failed", 20s));
  ASSERT_TRUE(small.fill());
  ASSERT_TRUE(wait_for(
      [&] {
        auto err = read_file(dir.file("gw.err"));
        return err.find("event=sink.dropped") != std::string::npos;
      },
      20s))
      << read_file(dir.file("gw.err"));
  const auto err = read_file(dir.file("gw.err"));
  std::string dropped;
  for (const auto& l : lines_of(err))
    if (l.find("event=sink.dropped") != std::string::npos) dropped = l;
  EXPECT_NE(dropped.find("reason=\"disk full\""), std::string::npos) << dropped;
  EXPECT_NE(err.find("disk full: cannot write spool file"), std::string::npos) << err;
  gw.signal(SIGTERM);
  EXPECT_EQ(gw.wait(30s), 0) << err;
}

// Item 6: one flipped byte in the middle of a spool used to lose every record
// after it. Now the next run delivers all but the damaged one, and keeps the
// damaged bytes in a quarantine file.
TEST(Probe, AFlippedByteInTheSpoolLosesOnlyItsRecord) {
  if (auto why = postgres_unavailable(); !why.empty()) GTEST_SKIP() << why;
  Postgres pg;  // not started yet: the first run spools everything
  TempDir dir;
  Emulator e = emulator_for(dir, 120);
  Cfg c = config_for(e, dir);
  c.sinks = {postgres_sink(pg.dsn(), "    retry_min: 100ms\n    retry_max: 200ms\n")};
  c.grace = "1s";
  dir.write("gw.yaml", yaml(c));
  auto first = run({GW_BIN, "once", "--quiet", "--config", dir.file("gw.yaml")}, {.timeout = 60s});
  EXPECT_EQ(first.status, 1) << first.err;  // the sink did not take the results
  const std::string wal = dir.file("state/spool/postgres.wal");
  std::set<std::pair<std::string, std::string>> spooled, damaged;
  std::uint64_t middle = 0;
  {
    groupwatch::delivery::detail::Spool spool(wal);
    ASSERT_EQ(spool.pending(), 120u);
    std::uint64_t bytes = 0;
    auto all = spool.read_front(spool.pending(), bytes);
    for (auto& r : all) spooled.insert({r.group_id, groupwatch::format_rfc3339_ms(r.time)});
    (void)spool.read_front(60, middle);  // record 60 starts at `middle`
    auto one = spool.read_front(61, bytes);
    damaged.insert({one.back().group_id, groupwatch::format_rfc3339_ms(one.back().time)});
  }
  {
    int fd = ::open(wal.c_str(), O_RDWR);
    ASSERT_GE(fd, 0);
    char ch = 0;
    ASSERT_EQ(::pread(fd, &ch, 1, static_cast<off_t>(middle + 30)), 1);
    ch = static_cast<char>(ch ^ 0x5a);
    ASSERT_EQ(::pwrite(fd, &ch, 1, static_cast<off_t>(middle + 30)), 1);
    ::close(fd);
  }
  pg.start();
  auto second = run({GW_BIN, "once", "--quiet", "--config", dir.file("gw.yaml")}, {.timeout = 60s});
  EXPECT_EQ(second.status, 0) << second.err;
  EXPECT_NE(second.err.find("skipped corrupt bytes in the spool"), std::string::npos) << second.err;
  auto rows = postgres_keys(pg, false);
  std::size_t delivered = 0, lost = 0;
  for (const auto& [g, t] : spooled) {
    bool there = rows.count(Key{g, t}) != 0;
    delivered += there;
    if (!there) {
      ++lost;
      EXPECT_TRUE(damaged.count({g, t})) << g << " " << t << " was intact but is lost";
    }
  }
  EXPECT_EQ(lost, 1u);
  EXPECT_EQ(delivered, 119u);
  EXPECT_GT(fs::file_size(wal + ".quarantine"), 0u);
  std::cout << "FIGURES spool_flip spooled=" << spooled.size() << " delivered_after=" << delivered << " lost=" << lost
            << "\n";
}

namespace {
std::size_t rows_now(const Postgres& pg) {
  try {
    return postgres_rows(pg);
  } catch (const std::exception&) {
    return 0;  // the table is not there yet
  }
}

// A psql session that holds an exclusive lock on the sink's table: every
// INSERT waits for it.
struct TableLock {
  std::unique_ptr<Process> psql;
  TableLock(const TempDir& dir, const Postgres& pg) {
    psql = std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/psql", pg.dsn(), "-v", "ON_ERROR_STOP=1", "-c",
                                 "BEGIN; LOCK TABLE samples IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(300);"},
        dir.file("lock.out"), dir.file("lock.err"));
    std::this_thread::sleep_for(1s);
  }
  ~TableLock() {
    psql->signal(SIGKILL);
    psql->wait(10s);
  }
};

// groupwatch polling 40 groups every 2 s into a running PostgreSQL, on `c`
// as a test leaves it.
struct IntoPostgres {
  IntoPostgres() {
    pg.start();
    c.sinks = {postgres_sink(pg.dsn(), "    flush_interval: 200ms\n")};
  }
  Postgres pg;
  TempDir dir;
  Emulator e = emulator_for(dir, 40);
  Cfg c = config_for(e, dir, "2s");
};
}  // namespace

// Item 4: "a PostgreSQL table held by LOCK TABLE elsewhere, grace 5 s,
// SIGTERM -> exit after 99 s; with 0 results delivered for 30 s the sink
// shows healthy". Now /readyz names the blocked sink, SIGTERM ends within
// the grace (+ the cancel), and what was not written is in the spool.
TEST(Probe, ABlockedSinkIsFailingAndShutdownKeepsToTheGrace) {
  if (auto why = postgres_unavailable(); !why.empty()) GTEST_SKIP() << why;
  IntoPostgres p;
  p.c.grace = "3s";
  const auto admin = admin_on_free_port(p.c, "  sink_failing_after: 2s\n");
  Process gw = start_run(p.dir, p.c);
  ASSERT_TRUE(wait_for([&] { return rows_now(p.pg) > 0; }, 20s)) << read_file(p.dir.file("gw.err"));
  TableLock lock(p.dir, p.pg);
  std::string ready;
  EXPECT_TRUE(wait_for(
      [&] {
        ready =
            run({"/usr/bin/curl", "-s", "http://127.0.0.1:" + std::to_string(admin) + "/readyz"}, {.timeout = 5s}).out;
        return ready.find("sink 'postgres' has been failing") != std::string::npos;
      },
      20s))
      << ready;
  EXPECT_NE(ready.find("has not returned"), std::string::npos) << ready;
  auto t0 = std::chrono::steady_clock::now();
  gw.signal(SIGTERM);
  const int status = gw.wait(30s);
  const double took = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(status, 0) << read_file(p.dir.file("gw.err"));
  EXPECT_LT(took, 3.0 + 2.0 + 3.0) << "grace 3 s, cancel 2 s, slack 3 s";
  EXPECT_GT(fs::file_size(p.dir.file("state/spool/postgres.wal")), 0u);
  std::cout << "FIGURES blocked_sink_shutdown_s=" << took << "\n";
}

// A second SIGTERM while the sinks flush exits at once.
TEST(Probe, ASecondSigtermWhileASinkIsBlockedExitsAtOnce) {
  if (auto why = postgres_unavailable(); !why.empty()) GTEST_SKIP() << why;
  IntoPostgres p;
  p.c.grace = "60s";
  Process gw = start_run(p.dir, p.c);
  ASSERT_TRUE(wait_for([&] { return rows_now(p.pg) > 0; }, 20s)) << read_file(p.dir.file("gw.err"));
  TableLock lock(p.dir, p.pg);
  std::this_thread::sleep_for(3s);  // results queue behind the lock
  gw.signal(SIGTERM);
  std::this_thread::sleep_for(2s);
  EXPECT_EQ(gw.wait(0ms), -1) << "exited before the grace of 60 s was over";
  auto t0 = std::chrono::steady_clock::now();
  gw.signal(SIGTERM);
  const int status = gw.wait(10s);
  EXPECT_NE(status, -1) << "a second SIGTERM did not end it";
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_NE(read_file(p.dir.file("gw.err")).find("second signal"), std::string::npos);
}

// Item 8: "64 idle connections lock /healthz out (closed at once, 5 of 5),
// which fails a liveness probe". The connection idle longest makes room.
TEST(Probe, IdleConnectionsNeverLockOutTheHealthProbe) {
  AdminRun r(20, "6s");
  const std::string base = "http://127.0.0.1:" + std::to_string(r.admin);
  ASSERT_TRUE(wait_for(
      [&] {
        return run({"/usr/bin/curl", "-s", base + "/healthz"}, {.timeout = 5s}).out == "ok\n";
      },
      20s));
  boost::asio::io_context io;
  std::vector<boost::asio::ip::tcp::socket> idle;
  for (int i = 0; i < 80; ++i) {
    idle.emplace_back(io);
    boost::system::error_code ec;
    idle.back().connect({boost::asio::ip::make_address("127.0.0.1"), r.admin}, ec);
    ASSERT_FALSE(ec) << ec.message();
  }
  std::this_thread::sleep_for(300ms);
  int answered = 0;
  for (int i = 0; i < 5; ++i) {
    auto r = run({"/usr/bin/curl", "-s", "-m", "3", base + "/healthz"}, {.timeout = 5s});
    answered += r.out == "ok\n";
  }
  EXPECT_EQ(answered, 5);
  // /api/status is rendered at most once a second for any number of clients.
  // Three reads in a few milliseconds: at most one can straddle a second.
  auto a =
      run({"/usr/bin/curl", "-s", "-w", "\\n--\\n", base + "/api/status", base + "/api/status", base + "/api/status"},
          {.timeout = 5s})
          .out;
  std::vector<std::string> bodies;
  for (std::size_t p = 0, q; (q = a.find("\n--\n", p)) != std::string::npos; p = q + 4)
    bodies.push_back(a.substr(p, q - p));
  ASSERT_EQ(bodies.size(), 3u) << a;
  EXPECT_TRUE(bodies[0] == bodies[1] || bodies[1] == bodies[2]) << "each read rendered the status anew";
  r.gw.signal(SIGTERM);
  EXPECT_EQ(r.gw.wait(30s), 0);
}

namespace {
constexpr const char* kFaketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1";

// groupwatch with its wall clock moved by libfaketime (the monotonic clock
// untouched, as with NTP steps); `offset` is rewritten while it runs.
std::map<std::string, std::string> faketime_env(const std::string& offset_file) {
  return {{"LD_PRELOAD", kFaketime},
          {"FAKETIME_TIMESTAMP_FILE", offset_file},
          {"FAKETIME_NO_CACHE", "1"},
          {"FAKETIME_DONT_FAKE_MONOTONIC", "1"}};
}

struct StepRun {
  std::vector<Req> reqs;
  std::string log;
  double step_at = 0;  // unix seconds (real) of the step
};

StepRun run_with_step(const std::string& step, int groups, const std::string& interval) {
  TempDir dir;
  emu::Options o;
  groups_into(dir, o, "groups.txt", static_cast<std::size_t>(groups));
  o.request_log_file = dir.file("requests.jsonl");
  Emulator e(o);
  Cfg c = ndjson_config_for(e, dir);
  c.interval = interval;
  dir.write("gw.yaml", yaml(c));
  dir.write("offset", "+0\n");
  StepRun out;
  {
    Process gw({GW_BIN, "run", "--config", dir.file("gw.yaml")}, dir.file("gw.out"), dir.file("gw.err"),
               faketime_env(dir.file("offset")));
    std::this_thread::sleep_for(8s);
    out.step_at = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    dir.write("offset", step + "\n");
    std::this_thread::sleep_for(12s);
    gw.signal(SIGTERM);
    EXPECT_EQ(gw.wait(30s), 0);
  }
  out.reqs = parse_request_log(dir.file("requests.jsonl"));
  out.log = read_file(dir.file("gw.err"));
  return out;
}
}  // namespace

// Item 3: "clock back 90 s -> 0 requests for ~88 s while /readyz says
// ready". Polling goes on at its pace and no group is polled twice within
// an interval.
TEST(Probe, AWallClockStepBackNeitherStopsPollingNorRepeatsGroups) {
  if (::access(kFaketime, R_OK) != 0) GTEST_SKIP() << "libfaketime is not installed";
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "libfaketime cannot be preloaded ahead of the sanitizer runtime (the Release suite runs this)";
#endif
  auto r = run_with_step("-90", 60, "6s");
  ASSERT_GT(r.reqs.size(), 100u) << r.log;
  double worst_gap = 0;
  for (std::size_t i = 1; i < r.reqs.size(); ++i) worst_gap = std::max(worst_gap, r.reqs[i].t - r.reqs[i - 1].t);
  EXPECT_LT(worst_gap, 2.0) << "polling stopped for " << worst_gap << " s\n" << r.log;
  std::map<std::string, double> last;
  double closest = 1e9;
  for (const auto& q : r.reqs) {
    if (auto it = last.find(q.group); it != last.end()) closest = std::min(closest, q.t - it->second);
    last[q.group] = q.t;
  }
  EXPECT_GT(closest, 6.0 * 0.9) << "a group was polled twice within an interval";
  EXPECT_NE(r.log.find("event=clock.step"), std::string::npos) << r.log;
  std::cout << "FIGURES clock_back_90s worst_gap_s=" << worst_gap << " closest_repeat_s=" << closest << "\n";
}

// "forward 1 h -> the rate jumps from 50 to ~202/s for the whole minute
// watched (about 15 min of catch-up)". Slots in between are skipped.
TEST(Probe, AWallClockStepForwardSkipsInsteadOfCatchingUp) {
  if (::access(kFaketime, R_OK) != 0) GTEST_SKIP() << "libfaketime is not installed";
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "libfaketime cannot be preloaded ahead of the sanitizer runtime (the Release suite runs this)";
#endif
  auto r = run_with_step("+3600", 60, "6s");  // fair rate 10/s
  ASSERT_GT(r.reqs.size(), 100u) << r.log;
  std::map<long, int> per_second;
  for (const auto& q : r.reqs)
    if (q.t > r.step_at) ++per_second[static_cast<long>(q.t)];
  int peak = 0;
  for (auto& [s, n] : per_second) peak = std::max(peak, n);
  EXPECT_LE(peak, 20) << "a burst after the step (fair rate 10/s)";
  std::map<std::string, int> polls_after;
  for (const auto& q : r.reqs)
    if (q.t > r.step_at + 0.5 && q.t < r.step_at + 6.5) ++polls_after[q.group];
  int most = 0;
  for (auto& [g, n] : polls_after) most = std::max(most, n);
  EXPECT_LE(most, 1) << "a group polled more than once in the interval after the step";
  EXPECT_NE(r.log.find("stepped forward"), std::string::npos) << r.log;
  std::cout << "FIGURES clock_forward_1h peak_per_s=" << peak << " most_polls_per_group_in_6s=" << most << "\n";
}
