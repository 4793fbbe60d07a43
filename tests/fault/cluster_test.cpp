// Several instances on a real three-member etcd (interface.md, "Cluster"):
// three groupwatch processes, three SDKAppIDs each at 100% of its cap, the
// emulator telling the instances apart by User-Agent. At no moment may two
// instances send for one SDKAppID: the emulator counts every call that comes
// from another instance than the call before it less than a second earlier
// (source_overlaps), and its cap (max_window, 60007) holds throughout.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <mutex>
#include <thread>

#include "fault/fault.hpp"

using namespace gwfault;

namespace {

constexpr std::uint32_t kCap = 40;
constexpr int kLeaseS = 6;
const std::uint64_t kApps[3] = {kAppId, kAppId + 1, kAppId + 2};

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0, Clock::time_point t) {
  return std::chrono::duration<double>(t - t0).count();
}

// Three etcd members on loopback, each in its own data directory; a member
// killed with SIGKILL comes back with start(i) from its data.
class Etcd3 {
 public:
  explicit Etcd3(const TempDir& dir) : dir_(dir) {
    for (int i = 0; i < 3; ++i) {
      client_[i] = free_port();
      peer_[i] = free_port();
    }
    for (int i = 0; i < 3; ++i) start(i);
    EXPECT_TRUE(wait_for([&] { return healthy(); }, 20s)) << "etcd did not become healthy";
  }
  void start(int i) {
    std::string cluster;
    for (int k = 0; k < 3; ++k)
      cluster += (k ? "," : "") + fmt("m", k) + "=http://127.0.0.1:" + std::to_string(peer_[k]);
    const std::string client = "http://127.0.0.1:" + std::to_string(client_[i]);
    const std::string peer = "http://127.0.0.1:" + std::to_string(peer_[i]);
    procs_[i] = std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/etcd", "--name", fmt("m", i), "--data-dir", dir_.file(fmt("etcd", i)),
                                 "--listen-client-urls", client, "--advertise-client-urls", client,
                                 "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer, "--initial-cluster",
                                 cluster, "--initial-cluster-state", "new", "--initial-cluster-token", "gwtest"},
        dir_.file(fmt("etcd", i) + ".out"), dir_.file(fmt("etcd", i) + ".err"));
  }
  void kill(int i) {
    procs_[i]->signal(SIGKILL);
    procs_[i]->wait(10s);
  }
  bool healthy() const {
    for (int i = 0; i < 3; ++i)
      if (http_get(client_[i], "/health").body.find("\"true\"") == std::string::npos) return false;
    return true;
  }
  std::string endpoint(int i) const { return "http://127.0.0.1:" + std::to_string(client_[i]); }

 private:
  static std::string fmt(const char* p, int i) { return p + std::to_string(i); }
  const TempDir& dir_;
  int client_[3]{}, peer_[3]{};
  std::unique_ptr<Process> procs_[3];
};

// Samples the emulator's per-SDKAppID, per-sender counts every 25 ms.
class Watch {
 public:
  struct Sample {
    Clock::time_point at;
    std::map<std::uint64_t, std::map<std::string, std::uint64_t>> by_app;  // sdkappid -> instance -> calls
  };
  explicit Watch(Emulator& e) : e_(e), thread_([this] { run(); }) {}
  ~Watch() {
    stop_ = true;
    thread_.join();
  }
  // Calls for `app` by `instance` (0 when it never sent) at the newest sample.
  std::uint64_t count(std::uint64_t app, const std::string& instance) {
    std::lock_guard l(mu_);
    return of(samples_.back(), app, instance);
  }
  std::uint64_t total(std::uint64_t app) {
    std::lock_guard l(mu_);
    return sum(samples_.back(), app);
  }
  // The first sample after `t` in which an instance other than `not_this`
  // had sent more for `app` than at `t`; nullopt when none yet.
  std::optional<Clock::time_point> first_other(std::uint64_t app, const std::string& not_this, Clock::time_point t) {
    std::lock_guard l(mu_);
    const Sample* base = nullptr;
    for (const auto& s : samples_) {
      if (s.at <= t) {
        base = &s;
        continue;
      }
      if (!base) continue;
      auto a = s.by_app.find(app);
      if (a == s.by_app.end()) continue;
      for (const auto& [who, n] : a->second)
        if (who != not_this && n > of(*base, app, who)) return s.at;
    }
    return std::nullopt;
  }
  // The longest time in [t0, t1] over which `app` got no call at all.
  double max_gap(std::uint64_t app, Clock::time_point t0, Clock::time_point t1) {
    std::lock_guard l(mu_);
    Clock::time_point last = t0;
    std::uint64_t prev = 0;
    bool have = false;
    double gap = 0;
    for (const auto& s : samples_) {
      if (s.at < t0 || s.at > t1) continue;
      const auto n = sum(s, app);
      if (have && n > prev) {
        gap = std::max(gap, since(last, s.at));
        last = s.at;
      }
      prev = n;
      have = true;
    }
    return std::max(gap, since(last, t1));
  }

 private:
  static std::uint64_t of(const Sample& s, std::uint64_t app, const std::string& who) {
    auto a = s.by_app.find(app);
    if (a == s.by_app.end()) return 0;
    auto w = a->second.find(who);
    return w == a->second.end() ? 0 : w->second;
  }
  static std::uint64_t sum(const Sample& s, std::uint64_t app) {
    std::uint64_t n = 0;
    auto a = s.by_app.find(app);
    if (a != s.by_app.end())
      for (const auto& [who, c] : a->second) n += c;
    return n;
  }
  void run() {
    while (!stop_) {
      Sample s;
      s.at = Clock::now();
      auto st = e_.server().stats();
      for (auto app : kApps) {
        for (const auto& [agent, n] : st.apps[app].sources) {
          // "groupwatch/VERSION (NAME)" -> NAME
          auto open = agent.rfind('(');
          auto name = open == std::string::npos ? agent : agent.substr(open + 1, agent.size() - open - 2);
          s.by_app[app][name] += n;
        }
      }
      {
        std::lock_guard l(mu_);
        samples_.push_back(std::move(s));
      }
      std::this_thread::sleep_for(25ms);
    }
  }
  Emulator& e_;
  std::mutex mu_;
  std::vector<Sample> samples_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

struct Instance {
  std::string name;
  std::uint16_t admin = 0;
  std::unique_ptr<Process> proc;
};

class Cluster : public ::testing::Test {
 protected:
  void SetUp() override {
    if (run({"etcd", "--version"}).status != 0)
      GTEST_FAIL() << "etcd is not installed: scripts/install-deps servers installs etcd-server";
    emu::Options o;
    for (auto app : kApps) o.apps.push_back({app, kKey, "administrator", kCap});
    // 100% of what a 6 s cycle at the cap holds: every app at its cap, and
    // no holder falling behind its slots (see shortest_repeat).
    ids_ = groups_into(dir_, o, "groups.txt", static_cast<std::size_t>(kCap * 6));
    emu_ = std::make_unique<Emulator>(o);
    emu_->write_ca(dir_.file("ca.pem"));
    etcd_ = std::make_unique<Etcd3>(dir_);
    for (int i = 0; i < 3; ++i) gw_.push_back(Instance{"gw" + std::to_string(i + 1), free_port(), nullptr});
  }
  void TearDown() override {
    for (auto& g : gw_) g.proc.reset();
    etcd_.reset();
  }

  std::string config(const Instance& g) const {
    std::string y = "apps:\n";
    for (int k = 0; k < 3; ++k) {
      y += "  - name: a" + std::to_string(k + 1) + "\n    sdkappid: " + std::to_string(kApps[k]) +
           "\n    admin: administrator\n    secret_key: " + kKey + "\n    endpoint: " + emu_->endpoint() +
           "\n    ca_file: " + dir_.file("ca.pem") + "\n    qps: " + std::to_string(kCap) + "\n    group_files: [" +
           dir_.file("groups.txt") + "]\n";
    }
    y += "poll:\n  interval: 6s\n  timeout: 4s\n  grace: 2s\n";
    y += "admin:\n  listen: 127.0.0.1:" + std::to_string(g.admin) + "\n";
    y += "cluster:\n  etcd: [" + etcd_->endpoint(0) + ", " + etcd_->endpoint(1) + ", " + etcd_->endpoint(2) +
         "]\n  prefix: /gwtest\n  name: " + g.name + "\n  lease: " + std::to_string(kLeaseS) + "s\n";
    y += "state_dir: " + dir_.file("state-" + g.name + "-" + std::to_string(g.admin)) + "\n";
    y += "sinks:\n" + ndjson_sink(dir_.file("out-" + g.name + ".ndjson"));
    return y;
  }
  void start(Instance& g) {
    dir_.write(g.name + ".yaml", config(g));
    g.proc = std::make_unique<Process>(std::vector<std::string>{GW_BIN, "run", "--config", dir_.file(g.name + ".yaml")},
                                       dir_.file(g.name + ".out"), dir_.file(g.name + ".err"));
  }
  void kill(Instance& g) {
    g.proc->signal(SIGKILL);
    g.proc->wait(10s);
  }
  std::string metrics(const Instance& g) const { return http_get(g.admin, "/metrics").body; }
  // The apps (a1..a3) `g` says it polls now.
  std::vector<int> holds(const Instance& g) const {
    std::vector<int> out;
    auto m = metrics(g);
    for (int k = 0; k < 3; ++k)
      if (m.find("groupwatch_cluster_holder{app=\"a" + std::to_string(k + 1) + "\"} 1") != std::string::npos)
        out.push_back(k);
    return out;
  }
  // Every instance sees all three members.
  bool all_joined() const {
    for (const auto& g : gw_)
      if (metrics(g).find("groupwatch_cluster_members 3\n") == std::string::npos) return false;
    return true;
  }
  // Each instance holds exactly one app.
  bool spread() const {
    std::set<int> all;
    for (const auto& g : gw_) {
      auto h = holds(g);
      if (h.size() != 1) return false;
      all.insert(h[0]);
    }
    return all.size() == 3;
  }
  int holder_of(int app) const {
    for (std::size_t i = 0; i < gw_.size(); ++i) {
      auto h = holds(gw_[i]);
      if (std::find(h.begin(), h.end(), app) != h.end()) return static_cast<int>(i);
    }
    return -1;
  }
  void expect_one_sender_and_cap() {
    auto st = emu_->server().stats();
    EXPECT_EQ(st.codes[60007], 0u);
    for (auto app : kApps) {
      EXPECT_EQ(st.apps[app].source_overlaps, 0u) << "two instances sent for " << app << " within one second";
      EXPECT_LE(st.apps[app].max_window, kCap) << app;
    }
  }
  // Across every instance's results: the shortest time between two results
  // of one group of one app. A takeover at the same wall-clock slots keeps
  // it near the interval; a group polled twice in one cycle would not. (A
  // holder in a permanent overrun runs behind its slots: its successor,
  // starting at the wall-clock slot, can poll a group again that much early.)
  double shortest_repeat() const {
    std::map<std::pair<std::string, std::string>, std::vector<double>> times;
    for (const auto& g : gw_)
      for (const auto& l : parse_ndjson(dir_.file("out-" + g.name + ".ndjson")))
        times[{l.app, l.group_id}].push_back(parse_rfc3339(l.time));
    double shortest = 1e9;
    for (auto& [key, t] : times) {
      std::sort(t.begin(), t.end());
      for (std::size_t i = 1; i < t.size(); ++i) shortest = std::min(shortest, t[i] - t[i - 1]);
    }
    return shortest;
  }
  std::string logs() const {
    std::string out;
    for (const auto& g : gw_) out += "--- " + g.name + "\n" + read_file(dir_.file(g.name + ".err"));
    return out;
  }

  TempDir dir_;
  std::vector<std::string> ids_;
  std::unique_ptr<Emulator> emu_;
  std::unique_ptr<Etcd3> etcd_;
  std::vector<Instance> gw_;
};

}  // namespace

// Spread within two leases; kill -9 of a holder: another instance sends for
// its SDKAppID within lease + 2 s; a holder paused past its lease sends not
// one request after it wakes; a second instance with a live name refuses to
// start. Never two senders for one SDKAppID, never over the cap.
TEST_F(Cluster, SpreadsFailsOverFencesAndNeverHasTwoSenders) {
  for (auto& g : gw_) start(g);
  Watch watch(*emu_);
  // Two leases from when the last one joined (start-up itself is slow under
  // the sanitizers).
  ASSERT_TRUE(wait_for([&] { return all_joined(); }, 30s)) << logs();
  const auto t0 = Clock::now();
  ASSERT_TRUE(wait_for([&] { return spread(); }, std::chrono::seconds(2 * kLeaseS))) << logs();
  std::cout << "FIGURES spread_s=" << since(t0, Clock::now()) << "\n";

  // kill -9 of a holder, GW_CLUSTER_KILLS times (2 unless asked).
  const int kills = std::getenv("GW_CLUSTER_KILLS") ? std::atoi(std::getenv("GW_CLUSTER_KILLS")) : 2;
  std::vector<double> failovers;
  for (int k = 0; k < kills; ++k) {
    const int app = k % 3;
    const int victim = holder_of(app);
    ASSERT_GE(victim, 0) << logs();
    sleep_s(0.5);
    const auto t_kill = Clock::now();
    kill(gw_[victim]);
    ASSERT_TRUE(wait_for([&] { return watch.first_other(kApps[app], gw_[victim].name, t_kill).has_value(); },
                         std::chrono::seconds(kLeaseS + 6)))
        << logs();
    const double failover = since(t_kill, *watch.first_other(kApps[app], gw_[victim].name, t_kill));
    failovers.push_back(failover);
    EXPECT_LE(failover, kLeaseS + 2.0) << "kill " << k;
    start(gw_[victim]);
    ASSERT_TRUE(wait_for([&] { return spread(); }, std::chrono::seconds(3 * kLeaseS + 4))) << logs();
  }
  std::sort(failovers.begin(), failovers.end());
  if (!failovers.empty()) {
    std::cout << "FIGURES failover_s median=" << failovers[failovers.size() / 2] << " max=" << failovers.back()
              << " kills=" << failovers.size() << " lease_s=" << kLeaseS << "\n";
  }

  // SIGSTOP past the lease, then SIGCONT: the paused holder has lost its
  // SDKAppID and sends nothing for it (nor for anything else) on waking.
  const int app = 0;
  const int paused = holder_of(app);
  ASSERT_GE(paused, 0);
  const auto t_stop = Clock::now();
  gw_[paused].proc->signal(SIGSTOP);
  sleep_s(0.3);  // what was on the wire has arrived
  std::uint64_t before = 0;
  for (auto a : kApps) before += watch.count(a, gw_[paused].name);
  ASSERT_TRUE(wait_for([&] { return watch.first_other(kApps[app], gw_[paused].name, t_stop).has_value(); },
                       std::chrono::seconds(kLeaseS + 6)))
      << logs();
  sleep_s(1);
  gw_[paused].proc->signal(SIGCONT);
  sleep_s(3);
  std::uint64_t after = 0;
  for (auto a : kApps) after += watch.count(a, gw_[paused].name);
  EXPECT_EQ(after, before) << "the paused holder sent after waking up\n" << logs();
  EXPECT_NE(read_file(dir_.file(gw_[paused].name + ".err")).find("cluster.lost"), std::string::npos);

  // A second instance named like a live one refuses to start (after waiting
  // one lease for the name to lapse), naming it.
  Instance twin{gw_[(paused + 1) % 3].name, free_port(), nullptr};
  dir_.write("twin.yaml", config(twin));
  auto r = run({GW_BIN, "run", "--config", dir_.file("twin.yaml")}, {.timeout = std::chrono::seconds(kLeaseS + 15)});
  EXPECT_EQ(r.status, 2) << r.err;
  EXPECT_NE(r.err.find("another instance named '" + twin.name + "'"), std::string::npos) << r.err;

  expect_one_sender_and_cap();
  for (auto& g : gw_) {
    g.proc->signal(SIGTERM);
    EXPECT_EQ(g.proc->wait(20s), 0) << logs();
  }
  // One result per group and cycle across the handovers (interval 6 s).
  const double repeat = shortest_repeat();
  std::cout << "FIGURES shortest_repeat_s=" << repeat << "\n";
  EXPECT_GE(repeat, 3.0);
}

// One etcd member killed: no app goes 2 s without a request. Every member
// stopped: within lease + 2 s nothing is sent and every /readyz says 503;
// etcd back: polling resumes, still one sender per SDKAppID.
TEST_F(Cluster, EtcdMemberDownChangesNothingAndEtcdDownStopsEverySend) {
  for (auto& g : gw_) start(g);
  Watch watch(*emu_);
  ASSERT_TRUE(wait_for([&] { return all_joined(); }, 30s)) << logs();
  ASSERT_TRUE(wait_for([&] { return spread(); }, std::chrono::seconds(2 * kLeaseS))) << logs();
  for (auto& g : gw_) EXPECT_EQ(http_get(g.admin, "/readyz").body, "ready\n");

  // The status page shows the instance, etcd, the members and who polls what.
  if (::access("/usr/bin/chromium", X_OK) == 0) {
    auto dom = run({"/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--user-data-dir=" + dir_.file("chromium"), "--virtual-time-budget=5000", "--dump-dom",
                    "http://127.0.0.1:" + std::to_string(gw_[0].admin) + "/"},
                   {.timeout = 60s});
    ASSERT_EQ(dom.status, 0) << dom.err;
    const auto at = dom.out.find("id=\"cluster\"");
    ASSERT_NE(at, std::string::npos);
    const auto card = dom.out.substr(at, dom.out.find("</section>", at) - at);
    EXPECT_EQ(card.find("display: none"), std::string::npos) << card;
    EXPECT_NE(card.find("etcd ok"), std::string::npos) << card;
    EXPECT_NE(card.find("instance gw1"), std::string::npos) << card;
    EXPECT_NE(card.find("members: gw1, gw2, gw3"), std::string::npos) << card;
    EXPECT_EQ(count_of(card, "<td>this instance</td>"), 1u) << card;
    EXPECT_EQ(count_of(card, "<td>gw2</td>") + count_of(card, "<td>gw3</td>"), 2u) << card;
  }

  // `query` beside an instance goes through it for the app it holds, and
  // refuses (sending nothing) for one another instance holds.
  const int held = holds(gw_[0]).at(0);
  const int other = (held + 1) % 3;
  auto ask = [&](int app) {
    return run(
        {GW_BIN, "query", "--config", dir_.file("gw1.yaml"), "--app", "a" + std::to_string(app + 1), ids_[0], ids_[1]});
  };
  auto q = ask(held);
  EXPECT_EQ(q.status, 0) << q.out << q.err;
  EXPECT_EQ(count_of(q.out, "\t"), 2u) << q.out;
  const auto before_other = watch.total(kApps[other]);
  auto refused = ask(other);
  EXPECT_EQ(refused.status, 1) << refused.out << refused.err;
  EXPECT_NE(refused.err.find("none here polls that SDKAppID now"), std::string::npos) << refused.err;
  sleep_s(0.2);
  std::uint64_t by_query = 0;
  auto st = emu_->server().stats();
  for (const auto& [who, n] : st.apps[kApps[other]].sources)
    if (who.find("(") == std::string::npos) by_query += n;
  EXPECT_EQ(by_query, 0u) << "query sent on its own";
  EXPECT_GT(watch.total(kApps[other]), before_other);  // its holder goes on

  const auto t_member = Clock::now();
  etcd_->kill(0);  // every instance's first endpoint
  sleep_s(12);
  for (auto app : kApps) {
    const double gap = watch.max_gap(app, t_member, Clock::now());
    std::cout << "FIGURES app=" << app << " max_gap_with_one_member_down_s=" << gap << "\n";
    EXPECT_LE(gap, 2.0) << app << "\n" << logs();
  }

  etcd_->kill(1);
  etcd_->kill(2);
  sleep_s(kLeaseS + 2);
  std::uint64_t at[3];
  for (int k = 0; k < 3; ++k) at[k] = watch.total(kApps[k]);
  for (auto& g : gw_) {
    auto body = http_get(g.admin, "/readyz").body;
    EXPECT_NE(body.find("not ready: cluster:"), std::string::npos) << g.name << ": " << body;
  }
  sleep_s(3);
  for (int k = 0; k < 3; ++k) EXPECT_EQ(watch.total(kApps[k]), at[k]) << "sent with etcd down: app " << k;
  EXPECT_NE(read_file(dir_.file("gw1.err")).find("cluster.unreachable"), std::string::npos);

  for (int i = 0; i < 3; ++i) etcd_->start(i);
  for (int k = 0; k < 3; ++k) {
    EXPECT_TRUE(wait_for([&] { return watch.total(kApps[k]) > at[k]; }, 30s)) << "app " << k << "\n" << logs();
  }
  expect_one_sender_and_cap();
  for (auto& g : gw_) {
    g.proc->signal(SIGTERM);
    EXPECT_EQ(g.proc->wait(20s), 0) << logs();
  }
}

// Without etcd (nothing listens on its port): the instance starts, sends
// nothing, /readyz names the cluster; a reload that changes `cluster` is
// refused whole, naming the key. SIGTERM still exits 0.
TEST(ClusterWithoutEtcd, PollsNothingSaysWhyAndRefusesAClusterReload) {
  TempDir dir;
  Emulator e = emulator_for(dir, 20);
  Cfg c = ndjson_config_for(e, dir, "2s");
  const auto etcd = "http://127.0.0.1:" + std::to_string(free_port());
  const auto admin = admin_on_free_port(c);
  c.extra_top = "cluster:\n  etcd: [" + etcd + "]\n  name: lone\n  lease: 3s\n";
  Process gw = start_run(dir, c);
  std::string ready;
  ASSERT_TRUE(wait_for(
      [&] {
        ready = http_get(admin, "/readyz").body;
        return ready.find(etcd) != std::string::npos;  // the endpoint that failed
      },
      10s))
      << ready;
  EXPECT_NE(ready.find("not ready: cluster: not joined yet (etcd: "), std::string::npos) << ready;
  sleep_s(3);
  EXPECT_EQ(e.server().stats().requests, 0u);
  EXPECT_NE(http_get(admin, "/metrics").body.find("groupwatch_cluster_holder{app=\"test\"} 0"), std::string::npos);

  c.extra_top = "cluster:\n  etcd: [" + etcd + "]\n  name: lone\n  lease: 5s\n";
  reload(gw, dir, c);
  ASSERT_TRUE(log_says_within(dir, "reload refused", 10s));
  const auto err = read_file(dir.file("gw.err"));
  EXPECT_NE(err.find("key=cluster"), std::string::npos) << err;
  EXPECT_EQ(err.find("event=config.reload "), std::string::npos) << err;
  gw.signal(SIGTERM);
  EXPECT_EQ(gw.wait(30s), 0) << err;
}
