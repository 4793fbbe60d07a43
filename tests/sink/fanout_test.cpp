#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>

#include "delivery/spool.hpp"
#include "sink/helpers.hpp"

namespace {

using namespace gw_test;
using ::testing::HasSubstr;

std::uint64_t spool_size(const TempDir& dir, const std::string& name = "fake") {
  std::error_code ec;
  auto n = fs::file_size(dir.file("spool/" + name + ".wal"), ec);
  return ec ? 0 : n;
}

delivery::SinkStats stats_of(const delivery::Fanout& f) {
  return f.stats().at(0);
}

void push_range(delivery::Fanout& f, int from, int to) {
  for (int i = from; i < to; ++i) f.push(make_result(i));
}

TEST(Fanout, DeliversEverythingInOrderOnItsOwnThread) {
  TempDir dir;
  auto st = std::make_shared<FakeState>();
  delivery::Fanout f(fake_sinks(st), dir.path());
  push_range(f, 0, 1000);
  EXPECT_TRUE(f.stop(10s));
  EXPECT_EQ(st->indices(), range(0, 1000));
  EXPECT_NE(st->writer, std::this_thread::get_id());
  EXPECT_EQ(st->opens.load(), 1);
  auto s = stats_of(f);
  EXPECT_EQ(s.name, "fake");
  EXPECT_EQ(s.delivered, 1000u);
  EXPECT_EQ(s.dropped, 0u);
  EXPECT_TRUE(s.healthy);
  EXPECT_EQ(spool_size(dir), 0u);
}

// A queue many batches deep (a slow sink) leaves in order, one batch at a
// time: the queue's front moves through it and its storage is reused.
TEST(Fanout, ADeepQueueLeavesInOrderOneBatchAtATime) {
  TempDir dir;
  auto st = std::make_shared<FakeState>();
  auto opts = fast_options();
  opts.queue_size = 10000;
  st->sleep_ms = 200;
  delivery::Fanout f(fake_sinks(st, opts), dir.path());
  push_range(f, 0, 10);  // the first batch, its write slow
  ASSERT_TRUE(eventually([&] { return st->attempts.load() == 1; }));
  push_range(f, 10, 1000);  // queued behind it, 99 batches deep
  st->sleep_ms = 0;
  push_range(f, 1000, 1005);
  EXPECT_TRUE(f.stop(10s));
  EXPECT_EQ(st->indices(), range(0, 1005));
  std::lock_guard lk(st->mu);
  EXPECT_GE(st->batches.size(), 101u);
  for (auto n : st->batches) EXPECT_LE(n, opts.batch_size);
  EXPECT_EQ(stats_of(f).dropped, 0u);
}

TEST(Fanout, FlushesAPartialBatchAfterFlushInterval) {
  TempDir dir;
  auto st = std::make_shared<FakeState>();
  auto opts = fast_options();
  opts.batch_size = 100;
  delivery::Fanout f(fake_sinks(st, opts), dir.path());
  push_range(f, 0, 3);
  EXPECT_TRUE(eventually([&] { return st->count() == 3; }));
}

TEST(Fanout, OutageLosesNothingAndKeepsOrder) {
  TempDir dir;
  auto st = failing_state();
  delivery::Fanout f(fake_sinks(st), dir.path());
  push_range(f, 0, 300);
  ASSERT_TRUE(eventually([&] { return stats_of(f).failures >= 2; }));
  auto s = stats_of(f);
  EXPECT_FALSE(s.healthy);
  EXPECT_THAT(s.last_error, HasSubstr("fake sink is down"));
  EXPECT_EQ(s.spooled, 300u);  // all of it on disk during the outage
  EXPECT_EQ(s.queue_depth, 0u);
  EXPECT_GT(spool_size(dir), 0u);

  st->fail = false;
  push_range(f, 300, 320);  // newer results come after the spooled ones
  ASSERT_TRUE(eventually([&] { return st->count() >= 320; }));
  EXPECT_TRUE(f.stop(5s));
  EXPECT_EQ(st->indices(), range(0, 320));
  EXPECT_TRUE(stats_of(f).healthy);
  EXPECT_EQ(spool_size(dir), 0u);  // truncated once replayed
}

TEST(Fanout, StopDuringOutageSpoolsAndANewFanoutDeliversIt) {
  TempDir dir;
  auto down = failing_state();
  {
    delivery::Fanout f(fake_sinks(down), dir.path());
    push_range(f, 0, 120);
    EXPECT_FALSE(f.stop(100ms));
  }
  EXPECT_EQ(down->count(), 0u);
  EXPECT_GT(spool_size(dir), 0u);

  auto up = std::make_shared<FakeState>();
  delivery::Fanout f(fake_sinks(up), dir.path());
  push_range(f, 120, 130);
  EXPECT_TRUE(f.stop(5s));
  EXPECT_EQ(up->indices(), range(0, 130));
  EXPECT_EQ(spool_size(dir), 0u);
}

TEST(Fanout, KillDuringOutageLosesNothingPushed) {
  TempDir dir;
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    // The child pushes during an outage and dies without any shutdown.
    auto down = failing_state();
    auto opts = fast_options();
    opts.queue_size = 100000;  // nothing spills because memory is full
    opts.retry_min = opts.retry_max = 10s;
    delivery::Fanout f(fake_sinks(down, opts), dir.path());
    push_range(f, 0, 25);
    while (f.stats().at(0).failures == 0) std::this_thread::sleep_for(1ms);
    push_range(f, 25, 60);  // after the first failure the worker spools each at once
    // push() itself never writes (it runs on the polling thread): the worker
    // moves the inbox to the spool as soon as it is not inside a sink write.
    for (int i = 0; i < 5000 && f.stats().at(0).spooled < 60; ++i) std::this_thread::sleep_for(1ms);
    ::kill(::getpid(), SIGKILL);
    ::_exit(3);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status));
  ASSERT_EQ(WTERMSIG(status), SIGKILL);

  auto up = std::make_shared<FakeState>();
  delivery::Fanout f(fake_sinks(up), dir.path());
  EXPECT_TRUE(f.stop(5s));
  EXPECT_EQ(up->indices(), range(0, 60));
}

TEST(Fanout, CorruptSpoolTailIsIgnoredAndTheRestDelivered) {
  TempDir dir;
  fs::create_directories(dir.file("spool"));
  {
    groupwatch::delivery::detail::Spool s(dir.file("spool/fake.wal"));
    std::string buf;
    for (int i = 0; i < 40; ++i) groupwatch::delivery::detail::encode_record(make_result(i), buf);
    s.append(buf, 40);
  }
  {
    std::ofstream f(dir.file("spool/fake.wal"), std::ios::app | std::ios::binary);
    f << "\x30\x00\x00\x00garbage that is not a record";
  }
  auto st = std::make_shared<FakeState>();
  delivery::Fanout f(fake_sinks(st), dir.path());
  EXPECT_TRUE(f.stop(5s));
  EXPECT_EQ(st->indices(), range(0, 40));
}

// Pushes item 0, waits for the first failure, then pushes the rest while the
// worker waits out a long backoff, so every drop decision is made in push().
// Checks what holds either way: the spool within its cap, more than 100 of
// the 200 dropped, each of them delivered or dropped. Returns the delivered.
std::vector<int> fill_spool_beyond_cap(bool drop_oldest) {
  TempDir dir;
  auto st = failing_state();
  auto opts = fast_options();
  opts.queue_size = 5;
  opts.spool_max_bytes = 4096;
  opts.drop_oldest = drop_oldest;
  opts.retry_min = opts.retry_max = 1s;
  delivery::Fanout f(fake_sinks(st, opts), dir.path());
  f.push(make_result(0));
  EXPECT_TRUE(eventually([&] { return stats_of(f).failures >= 1; }));
  push_range(f, 1, 200);
  EXPECT_LE(stats_of(f).spool_bytes, 4096u);
  st->fail = false;
  EXPECT_TRUE(eventually([&] {
    auto s = stats_of(f);
    return s.delivered + s.dropped == 200;
  }));
  EXPECT_TRUE(f.stop(5s));
  const auto dropped = stats_of(f).dropped;
  auto got = st->indices();
  EXPECT_GT(dropped, 100u);
  EXPECT_EQ(got.size() + dropped, 200u);
  return got;
}

TEST(Fanout, WhenFullDropOldestKeepsTheNewest) {
  auto got = fill_spool_beyond_cap(true);
  EXPECT_TRUE(std::is_sorted(got.begin(), got.end()));
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.back(), 199);
  // A suffix: everything after the first delivered one is there.
  EXPECT_EQ(got, range(got.front(), 200));
  EXPECT_GT(got.front(), 0);
}

TEST(Fanout, WhenFullDropNewestKeepsTheOldest) {
  auto got = fill_spool_beyond_cap(false);
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got, range(0, static_cast<int>(got.size())));
}

TEST(Fanout, UnusableStateDirThrowsNamingThePath) {
  TempDir dir;
  std::ofstream(dir.file("plainfile")) << "x";
  for (std::string bad : {std::string("/dev/null/x"), dir.file("plainfile")}) {
    auto st = std::make_shared<FakeState>();
    try {
      delivery::Fanout f(fake_sinks(st), bad);
      ADD_FAILURE() << "expected an exception for " << bad;
    } catch (const std::runtime_error& e) {
      EXPECT_THAT(e.what(), HasSubstr(bad));
      EXPECT_THAT(e.what(), HasSubstr("Not a directory"));
    }
  }
}

TEST(Fanout, SlowSinkDoesNotBlockPush) {
  TempDir dir;
  auto slow = std::make_shared<FakeState>();
  slow->sleep_ms = 300;
  {
    delivery::Fanout f(fake_sinks(slow), dir.path());
    auto t0 = std::chrono::steady_clock::now();
    push_range(f, 0, 1000);
    auto took = std::chrono::steady_clock::now() - t0;
    // Delivering would take 100 batches x 300ms; pushing must not wait for it.
    EXPECT_LT(took, 5s);
    EXPECT_FALSE(f.stop(50ms));
  }
  auto fast = std::make_shared<FakeState>();
  delivery::Fanout f(fake_sinks(fast), dir.path());
  EXPECT_TRUE(f.stop(10s));
  auto all = slow->indices();
  auto rest = fast->indices();
  all.insert(all.end(), rest.begin(), rest.end());
  EXPECT_EQ(all, range(0, 1000));  // the slow sink's batch in flight at stop is not repeated
}

TEST(Fanout, ForgetRunsOnTheWorker) {
  TempDir dir;
  auto st = std::make_shared<FakeState>();
  delivery::Fanout f(fake_sinks(st), dir.path());
  f.forget("prod-sg", "@TGS#_x");
  EXPECT_TRUE(eventually([&] {
    std::lock_guard lk(st->mu);
    return st->forgotten.size() == 1;
  }));
  std::lock_guard lk(st->mu);
  EXPECT_EQ(st->forgotten.at(0), "prod-sg/@TGS#_x");
}

TEST(Fanout, EverySinkGetsEveryResult) {
  TempDir dir;
  auto a = std::make_shared<FakeState>();
  auto b = failing_state();
  auto sinks = fake_sinks(a, fast_options(), "a");
  auto more = fake_sinks(b, fast_options(), "b");
  sinks.push_back(std::move(more.front()));
  delivery::Fanout f(std::move(sinks), dir.path());
  push_range(f, 0, 50);
  ASSERT_TRUE(eventually([&] { return a->count() == 50; }));  // a failing neighbour does not hold it back
  ASSERT_TRUE(eventually([&] { return f.stats().at(1).failures >= 1; }));
  b->fail = false;
  EXPECT_TRUE(f.stop(5s));
  EXPECT_EQ(b->indices(), range(0, 50));
  auto stats = f.stats();
  ASSERT_EQ(stats.size(), 2u);
  EXPECT_EQ(stats[1].name, "b");
  EXPECT_GE(stats[1].failures, 1u);
}

}  // namespace

namespace {
std::vector<delivery::ParsedSink> fake_with(std::shared_ptr<FakeState> st, const std::string& fingerprint,
                                            const std::string& name = "fake") {
  auto v = fake_sinks(std::move(st), fast_options(), name);
  v[0].fingerprint = fingerprint;
  return v;
}
}  // namespace

// Reload: a changed sink swaps its settings between two writes and keeps
// what it had queued and spooled; nothing is lost or written twice.
TEST(FanoutReconfigure, AChangedSinkKeepsItsSpoolAndDeliversItThroughTheNewSettings) {
  TempDir dir;
  auto down = failing_state();
  delivery::Fanout f(fake_with(down, "v1"), dir.path());
  push_range(f, 0, 100);
  ASSERT_TRUE(eventually([&] { return stats_of(f).spooled == 100; }));
  auto up = std::make_shared<FakeState>();
  auto change = f.reconfigure(fake_with(up, "v2"), 1s);
  EXPECT_EQ(change.changed, std::vector<std::string>{"fake"});
  EXPECT_TRUE(change.added.empty());
  push_range(f, 100, 120);
  ASSERT_TRUE(eventually([&] { return up->count() >= 120; }));
  EXPECT_TRUE(f.stop(5s));
  EXPECT_EQ(up->indices(), range(0, 120));
  EXPECT_EQ(down->count(), 0u);
}

TEST(FanoutReconfigure, AnUnchangedSinkIsKeptAsItIs) {
  TempDir dir;
  auto st = std::make_shared<FakeState>();
  delivery::Fanout f(fake_with(st, "same"), dir.path());
  push_range(f, 0, 10);
  ASSERT_TRUE(eventually([&] { return st->count() == 10; }));
  auto other = std::make_shared<FakeState>();
  auto change = f.reconfigure(fake_with(other, "same"), 1s);
  EXPECT_TRUE(change.empty());
  push_range(f, 10, 20);
  EXPECT_TRUE(f.stop(5s));
  EXPECT_EQ(st->indices(), range(0, 20));
  EXPECT_EQ(other->opens.load(), 0);
}

// A removed sink drains without blocking the caller; what it could not
// deliver stays in its spool, and the sink's return delivers it.
TEST(FanoutReconfigure, ARemovedSinkKeepsItsSpoolForItsReturn) {
  TempDir dir;
  auto a = std::make_shared<FakeState>();
  auto b = failing_state();
  auto both = fake_with(a, "a", "a");
  both.push_back(std::move(fake_with(b, "b", "b")[0]));
  delivery::Fanout f(std::move(both), dir.path());
  push_range(f, 0, 50);
  ASSERT_TRUE(eventually([&] { return a->count() == 50; }));
  auto t0 = std::chrono::steady_clock::now();
  auto change = f.reconfigure(fake_with(a, "a", "a"), 200ms);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 100ms);  // b drains on its own thread
  EXPECT_EQ(change.removed, std::vector<std::string>{"b"});
  push_range(f, 50, 60);  // b is gone: these are a's only
  ASSERT_TRUE(eventually([&] { return a->count() == 60; }));

  auto b2 = std::make_shared<FakeState>();
  auto back = fake_with(a, "a", "a");
  back.push_back(std::move(fake_with(b2, "b", "b")[0]));
  change = f.reconfigure(std::move(back), 1s);
  EXPECT_EQ(change.added, std::vector<std::string>{"b"});
  push_range(f, 60, 70);
  EXPECT_TRUE(f.stop(5s));
  std::vector<int> want = range(0, 50);
  for (int i : range(60, 70)) want.push_back(i);
  EXPECT_EQ(b2->indices(), want);
  EXPECT_EQ(a->indices(), range(0, 70));
}
