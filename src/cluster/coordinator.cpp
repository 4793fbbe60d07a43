// The lease, the member key and the campaign for SDKAppIDs: two loops on the
// io_context. The lease loop grants and renews; the balance loop reads the
// prefix, takes free SDKAppIDs up to this instance's share and gives back
// what is over it. Sending is decided by time alone (Holding::may_send), so
// a stalled or paused process stops at its fence even when no loop ran.
#include "groupwatch/cluster/coordinator.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "groupwatch/cluster/etcd.hpp"
#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/spawn.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::cluster {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;
using namespace std::chrono_literals;

namespace {
// How long a releasing holder stays quiet before it deletes its key: the
// vendor counts requests in one-second windows.
constexpr auto release_quiet = 1100ms;

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

double seconds(steady::duration d) {
  return std::chrono::duration<double>(d).count();
}
}  // namespace

struct Coordinator::Impl : std::enable_shared_from_this<Impl> {
  struct App {
    std::shared_ptr<Holding> holding;
    bool wanted = true;
    std::string holder;  // as the last read said
    steady::time_point stopped_at{};
    std::uint64_t acquired = 0, released = 0, lost = 0;
  };

  asio::io_context& io;
  config::ClusterConfig cfg;
  Etcd etcd;
  std::string members_prefix, apps_prefix;
  std::function<void()> fatal;
  bool running = false;
  std::int64_t lease = 0;
  bool joined = false;
  steady::time_point renewed_sent{}, until{};
  std::uint64_t renew_failures = 0;
  std::string last_error;
  bool said_unreachable = false, said_failing = false;
  steady::time_point name_seen_live{};
  std::map<std::uint64_t, App> apps;
  std::vector<std::string> members;
  steady::time_point members_changed{};
  asio::steady_timer lease_timer, balance_timer;

  Impl(asio::io_context& i, config::ClusterConfig c)
      : io(i),
        cfg(std::move(c)),
        etcd(i.get_executor(), cfg.etcd,
             std::chrono::milliseconds(std::min<std::int64_t>(1000, cfg.lease.count() / 4))),
        members_prefix(cfg.prefix + "/members/"),
        apps_prefix(cfg.prefix + "/apps/"),
        lease_timer(i),
        balance_timer(i) {}

  std::chrono::milliseconds renew_every() const {
    return std::max<std::chrono::milliseconds>(100ms, (cfg.lease - fence_margin) / 3);
  }
  std::chrono::milliseconds tick() const { return std::clamp<std::chrono::milliseconds>(cfg.lease / 10, 100ms, 500ms); }
  bool reachable(steady::time_point now) const { return lease != 0 && now < until; }
  std::int64_t ttl_s() const { return (cfg.lease.count() + 999) / 1000; }

  App& app(std::uint64_t id) {
    auto it = apps.find(id);
    if (it == apps.end()) {
      it = apps.emplace(id, App{}).first;
      it->second.holding = std::make_shared<Holding>(id);
    }
    return it->second;
  }

  // ---- the lease ----------------------------------------------------------

  void renewed(steady::time_point sent, std::int64_t ttl) {
    renewed_sent = sent;
    until = sent + std::chrono::seconds(ttl) - fence_margin;
    for (auto& [id, a] : apps) {
      if (a.holding->held()) a.holding->extend(until);
    }
    if (said_unreachable || said_failing) {
      log::info(events::cluster_reachable, "etcd answers again", {{"endpoint", etcd.endpoint()}});
      said_unreachable = said_failing = false;
    }
  }

  void failed(const std::string& error) {
    last_error = error;
    if (!said_failing) {
      said_failing = true;
      log::warn(events::cluster_unreachable, "etcd did not answer; trying the other endpoints",
                {{"error", error}, {"lease_left_s", seconds(until - steady::now())}});
    }
  }

  void stop_holding(App& a, std::uint64_t id, std::uint64_t App::*counter, std::string_view event, std::string why) {
    if (!a.holding->held()) return;
    a.holding->drop();
    a.stopped_at = steady::now();
    ++(a.*counter);
    log::info(event, why, {{"sdkappid", id}});
  }

  void lease_lost() {
    for (auto& [id, a] : apps) {
      stop_holding(a, id, &App::lost, events::cluster_lost, "the lease expired at etcd: this SDKAppID is released");
    }
    log::warn(events::cluster_lost, "the lease expired at etcd; joining again", {{"name", cfg.name}});
    lease = 0;
    joined = false;
  }

  // Grants a lease (when there is none) and puts the member key.
  asio::awaitable<void> join() {
    // Nothing renews a lease before the member key is in: one that may have
    // lapsed meanwhile is granted anew.
    if (lease != 0 && steady::now() >= until) lease = 0;
    if (lease == 0) {
      // Whatever an old lease held went with it (a holding never moves to a new lease).
      for (auto& [id, a] : apps)
        stop_holding(a, id, &App::lost, events::cluster_lost, "a new lease: this SDKAppID is released");
      const auto sent = steady::now();
      auto g = co_await etcd.grant(ttl_s());
      if (!g.ok) {
        failed(g.error);
        co_return;
      }
      lease = g.value.id;
      renewed(sent, g.value.ttl_s);
    }
    const std::string key = members_prefix + cfg.name;
    auto c = co_await etcd.create(key, cfg.name, lease);
    if (!c.ok) {
      failed(c.error);
      co_return;
    }
    if (!c.value) {
      // Ours already when an earlier answer was lost; anyone else's: refuse.
      auto l = co_await etcd.list(key);
      if (!l.ok) {
        failed(l.error);
        co_return;
      }
      const bool ours = std::any_of(l.value.begin(), l.value.end(),
                                    [&](const KeyValue& kv) { return kv.key == key && kv.lease == lease; });
      if (!ours) {
        // A restart after a crash finds its own old key until that lease
        // lapses: wait one lease for it before calling the name taken.
        const auto now = steady::now();
        if (name_seen_live == steady::time_point{}) {
          name_seen_live = now;
          log::warn(events::cluster_name_taken,
                    "an instance with this name is live in the cluster; waiting up to one lease for it to lapse",
                    {{"name", cfg.name}, {"prefix", cfg.prefix}});
        }
        if (now - name_seen_live <= cfg.lease + 1s) co_return;
        running = false;
        co_await etcd.revoke(lease);
        lease = 0;
        log::error(events::cluster_name_taken,
                   "another instance named '" + cfg.name + "' is live under " + cfg.prefix +
                       ": not starting (give each instance its own cluster.name)",
                   {{"name", cfg.name}});
        if (fatal) fatal();
        co_return;
      }
    }
    joined = true;
    log::info(events::cluster_joined, "joined the cluster",
              {{"name", cfg.name}, {"prefix", cfg.prefix}, {"endpoint", etcd.endpoint()}, {"lease_s", ttl_s()}});
  }

  asio::awaitable<void> lease_loop() {
    auto self = shared_from_this();
    while (running) {
      bool ok = false;
      if (!joined) {
        co_await join();
        ok = joined;
      } else {
        const auto sent = steady::now();
        auto r = co_await etcd.keepalive(lease);
        if (!running) break;
        if (!r.ok) {
          ++renew_failures;
          failed(r.error);
        } else if (r.value <= 0) {
          lease_lost();
        } else {
          renewed(sent, r.value);
          ok = true;
        }
      }
      if (!running) break;
      const auto now = steady::now();
      if (!ok && !said_unreachable && lease != 0 && now >= until) {
        said_unreachable = true;
        log::error(events::cluster_unreachable,
                   "etcd unreachable for longer than the lease allows: sending nothing until it answers",
                   {{"error", last_error}});
      }
      auto next = ok ? renewed_sent + renew_every() : now + std::min<std::chrono::milliseconds>(250ms, renew_every());
      lease_timer.expires_at(next);
      co_await lease_timer.async_wait(use_tuple);
    }
  }

  // ---- the campaign -------------------------------------------------------

  // What the prefix holds: the members, and each SDKAppID key's holder.
  struct View {
    std::vector<std::string> members;
    std::map<std::uint64_t, KeyValue> holders;
  };
  View read_view(const std::vector<KeyValue>& kvs) const {
    View v;
    for (const auto& kv : kvs) {
      if (kv.key.starts_with(members_prefix)) {
        v.members.push_back(kv.key.substr(members_prefix.size()));
      } else if (kv.key.starts_with(apps_prefix)) {
        std::string_view id(kv.key);
        id.remove_prefix(apps_prefix.size());
        if (const auto n = parse_number<std::uint64_t>(id)) v.holders[*n] = kv;
      }
    }
    std::sort(v.members.begin(), v.members.end());
    return v;
  }

  bool ours(const KeyValue& kv) const { return kv.value == cfg.name && kv.lease == lease && lease != 0; }

  asio::awaitable<void> balance() {
    auto r = co_await etcd.list(cfg.prefix + "/");
    if (!r.ok) {
      last_error = r.error;
      co_return;
    }
    View v = read_view(r.value);
    auto now = steady::now();
    if (v.members != members) {
      members = v.members;
      members_changed = now;
      log::info(events::cluster_joined, "cluster members", {{"members", fmt::format("{}", fmt::join(members, ","))}});
    }
    std::size_t wanted = 0, held = 0;
    std::vector<std::uint64_t> give_back, free;
    for (auto& [id, a] : apps) {
      auto it = v.holders.find(id);
      const bool mine = it != v.holders.end() && ours(it->second);
      a.holder = it == v.holders.end() ? std::string() : it->second.value;
      if (a.holding->held() && !mine) {
        stop_holding(a, id, &App::lost, events::cluster_lost, "another instance holds this SDKAppID now");
      }
      if (mine && !a.holding->held() && now - a.stopped_at >= release_quiet) give_back.push_back(id);
      if (!a.wanted) {
        if (a.holding->held()) stop_holding(a, id, &App::released, events::cluster_released, "no app polls it now");
        continue;
      }
      ++wanted;
      if (a.holding->held()) ++held;
      if (it == v.holders.end()) free.push_back(id);
    }
    const std::size_t n = std::max<std::size_t>(1, members.size());
    const std::size_t share = (wanted + n - 1) / n;
    // Over the share: stop sending now, delete the keys once the vendor's
    // window has passed (the next read, release_quiet later).
    if (held > share && now - members_changed >= cfg.lease) {
      for (auto& [id, a] : apps) {
        if (held <= share) break;
        if (!a.holding->held()) continue;
        stop_holding(a, id, &App::released, events::cluster_released,
                     fmt::format("giving this SDKAppID to another instance ({} members, share {})", n, share));
        --held;
      }
    }
    for (auto id : give_back) {
      auto d = co_await etcd.remove_own(apps_prefix + std::to_string(id), cfg.name, lease);
      if (!d.ok) last_error = d.error;
    }
    // Under it: take free ones, starting at a place of our own so that
    // instances do not all race for the same key.
    if (held < share && !free.empty()) {
      const std::size_t start = std::hash<std::string>{}(cfg.name) % free.size();
      for (std::size_t i = 0; i < free.size() && held < share; ++i) {
        const auto id = free[(start + i) % free.size()];
        if (!running || !reachable(steady::now())) break;
        auto c = co_await etcd.create(apps_prefix + std::to_string(id), cfg.name, lease);
        if (!c.ok) {
          last_error = c.error;
          break;
        }
        if (!c.value) continue;  // another instance was quicker
        if (!running) break;     // leaving: the revoke deletes the key
        App& a = app(id);
        if (!a.wanted || !reachable(steady::now())) continue;  // released at the next read
        a.holding->acquire(until);
        a.holder = cfg.name;
        ++a.acquired;
        ++held;
        log::info(events::cluster_acquired, "this instance polls this SDKAppID now",
                  {{"sdkappid", id}, {"members", static_cast<std::uint64_t>(n)}});
      }
    }
  }

  asio::awaitable<void> balance_loop() {
    auto self = shared_from_this();
    while (running) {
      if (joined && reachable(steady::now())) co_await balance();
      if (!running) break;
      balance_timer.expires_after(tick());
      co_await balance_timer.async_wait(use_tuple);
    }
  }

  asio::awaitable<void> leave(std::function<void()> done) {
    auto self = shared_from_this();
    running = false;
    lease_timer.cancel();
    balance_timer.cancel();
    bool sending = false;
    for (auto& [id, a] : apps) {
      sending = sending || a.holding->may_send();
      stop_holding(a, id, &App::released, events::cluster_released, "leaving the cluster");
    }
    if (lease != 0) {
      if (sending) {
        asio::steady_timer quiet(io, release_quiet);
        co_await quiet.async_wait(use_tuple);
      }
      auto r = co_await etcd.revoke(lease);
      if (r.ok) {
        log::info(events::cluster_left, "left the cluster: the lease is revoked, others take over now",
                  {{"name", cfg.name}});
      } else {
        log::warn(events::cluster_left, "left without revoking the lease: others take over when it lapses",
                  {{"error", r.error}});
      }
      lease = 0;
    }
    joined = false;
    etcd.shutdown();
    if (done) done();
  }
};

Coordinator::Coordinator(asio::io_context& io, config::ClusterConfig cfg)
    : impl_(std::make_shared<Impl>(io, std::move(cfg))) {}

Coordinator::~Coordinator() {
  impl_->running = false;
  impl_->lease_timer.cancel();
  impl_->balance_timer.cancel();
  impl_->etcd.shutdown();
}

std::shared_ptr<Holding> Coordinator::holding(std::uint64_t sdkappid) {
  return impl_->app(sdkappid).holding;
}

void Coordinator::set_apps(const std::vector<std::uint64_t>& sdkappids) {
  std::set<std::uint64_t> want(sdkappids.begin(), sdkappids.end());
  for (auto id : want) impl_->app(id).wanted = true;
  for (auto& [id, a] : impl_->apps) a.wanted = want.count(id) > 0;
}

void Coordinator::start(std::function<void()> fatal) {
  if (impl_->running) return;
  impl_->running = true;
  impl_->fatal = std::move(fatal);
  auto self = impl_;
  spawn_logged(
      impl_->io, [self] { return self->lease_loop(); }, "cluster lease");
  spawn_logged(
      impl_->io, [self] { return self->balance_loop(); }, "cluster balance");
}

void Coordinator::leave(std::function<void()> done) {
  auto self = impl_;
  spawn_logged(
      impl_->io, [self, done = std::move(done)]() mutable { return self->leave(std::move(done)); }, "cluster leave");
}

ClusterStatus Coordinator::status() const {
  const Impl& I = *impl_;
  ClusterStatus s;
  const auto now = steady::now();
  s.name = I.cfg.name;
  s.joined = I.joined;
  s.reachable = I.reachable(now);
  if (!s.reachable) s.etcd_error = I.last_error;
  s.endpoint = I.etcd.endpoint();
  s.lease_age_s = I.renewed_sent == steady::time_point{} ? 0 : seconds(now - I.renewed_sent);
  s.renew_failures = I.renew_failures;
  s.members = I.members;
  for (const auto& [id, a] : I.apps) {
    if (!a.wanted && !a.holding->held()) continue;
    s.apps.push_back(ClusterStatus::App{.sdkappid = id,
                                        .held = a.holding->may_send(now),
                                        .holder = a.holder,
                                        .acquired = a.acquired,
                                        .released = a.released,
                                        .lost = a.lost});
  }
  return s;
}

const config::ClusterConfig& Coordinator::config() const {
  return impl_->cfg;
}

}  // namespace groupwatch::cluster
