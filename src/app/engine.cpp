#include "groupwatch/app/engine.hpp"

#include <algorithm>
#include <functional>
#include <map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "app/budget.hpp"
#include "app/discovery.hpp"
#include "app/poller.hpp"
#include "app/spawn.hpp"
#include "groupwatch/cluster/coordinator.hpp"
#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"

namespace groupwatch::app {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

struct Engine::Impl {
  asio::io_context& io;
  ResultOut& out;
  Mode mode;
  config::PollConfig poll;
  std::shared_ptr<limit::RateLimiter> global;
  // One per SDKAppID and endpoint, shared by the apps entries naming it.
  std::map<std::string, std::shared_ptr<Budget>> budgets;
  std::vector<std::shared_ptr<Poller>> pollers;
  std::vector<std::shared_ptr<Poller>> retired;                    // replaced on reload, draining
  std::vector<std::shared_ptr<Poller>> asks;                       // one-off polls for query/once beside us
  std::map<std::string, config::AppSettings> creds;                // per budget key: the first app's settings
  std::map<std::string, std::shared_ptr<Discoverer>> discoverers;  // per app name, for apps with discover:
  std::map<std::string, DiscoveryBudgets> discovery_budgets;       // per budget key, made when first needed
  std::vector<std::shared_ptr<Discoverer>> listings;               // one-off listings for `discover` beside us
  cluster::Coordinator* cluster = nullptr;

  DiscoveryBudgets& discovery_budget(const config::AppSettings& a) {
    auto key = budget_key(a);
    auto it = discovery_budgets.find(key);
    if (it == discovery_budgets.end()) {
      auto b = make_discovery_budgets(io, a, poll);
      if (cluster) {
        b.list->set_holding(cluster->holding(a.sdkappid));
        b.info->set_holding(cluster->holding(a.sdkappid));
      }
      it = discovery_budgets.emplace(key, std::move(b)).first;
    }
    return it->second;
  }

  void shutdown_discovery() {
    for (auto& [name, d] : discoverers) d->stop();
    for (auto& d : listings) d->stop();
    for (auto& [key, b] : discovery_budgets) {
      b.list->pool()->shutdown();
      b.info->pool()->shutdown();
    }
  }
  std::function<void()> finished_cb;
  bool stopping = false;

  Impl(asio::io_context& i, ResultOut& o, Mode m) : io(i), out(o), mode(m) {}

  std::shared_ptr<Poller> make(const config::AppConfig& a) {
    auto p = std::make_shared<Poller>(io, a, poll, mode, out, budgets.at(budget_key(a)));
    p->on_finished([this] { maybe_finished(); });
    return p;
  }

  // The budgets `cfg` needs: kept where the key exists (with its limiter,
  // lowered rate and warm connections), new ones made, unused ones dropped
  // (pollers still draining on them keep them alive). Returns how many pools
  // were replaced by new connection settings.
  std::size_t set_budgets(const config::Config& cfg) {
    std::map<std::string, std::shared_ptr<Budget>> next;
    std::size_t replaced = 0;
    std::vector<std::uint64_t> ids;
    creds.clear();
    for (const auto& shared : config::shared_budgets(cfg)) {
      const config::AppConfig& first = *shared.apps.front();
      auto po = pool_options(first, cfg.poll);
      if (cluster) po.agent_note = cluster->config().name;
      auto old = budgets.find(shared.key);
      std::shared_ptr<Budget> b;
      if (old != budgets.end()) {
        b = old->second;
        if (b->update(shared.qps, po)) ++replaced;
      } else {
        b = std::make_shared<Budget>(io, shared.qps, po);
      }
      b->set_global(global);
      if (cluster) b->set_holding(cluster->holding(first.sdkappid));
      ids.push_back(first.sdkappid);
      next.emplace(shared.key, std::move(b));
      creds.emplace(shared.key, static_cast<const config::AppSettings&>(first));
    }
    budgets = std::move(next);
    if (cluster) cluster->set_apps(ids);
    return replaced;
  }

  std::shared_ptr<Poller> poller(const std::string& app) const {
    for (const auto& p : pollers)
      if (p && p->name() == app) return p;
    return nullptr;
  }

  static void apply_listing(Poller& p, const Listing& l) {
    std::vector<std::pair<std::string, config::GroupMetaPtr>> found;
    found.reserve(l.kept.size());
    for (const auto& f : l.kept) found.emplace_back(f.id, f.meta);
    p.set_discovered(std::move(found));
  }

  // Lists every `every` and hands each listing to the app's current poller.
  void start_discovery(const std::string& app, const std::shared_ptr<Discoverer>& d) {
    d->start([this, app](const Listing& l) {
      if (auto p = poller(app)) apply_listing(*p, l);
    });
  }

  // once: the app's poller starts after its first listing (or its failure).
  // (A coroutine with parameters, not a capturing lambda: a lambda's
  // captures die with the lambda, before the coroutine resumes.)
  static asio::awaitable<void> list_then_start_co(std::shared_ptr<Discoverer> d, std::shared_ptr<Poller> p) {
    Listing l = co_await d->list();
    if (l.ok) {
      apply_listing(*p, l);
    } else {
      log::warn(events::discovery_failed, "group listing failed; polling the watchlist only",
                {{"app", p->name()}, {"error", l.error}});
    }
    p->start();
  }
  void list_then_start(std::shared_ptr<Discoverer> d, std::shared_ptr<Poller> p) {
    spawn_logged(
        io, [d, p] { return list_then_start_co(d, p); }, "discovery");
  }

  // The discoverers `cfg` needs: kept where nothing about listing changed,
  // new ones started, the rest stopped (their groups leave the pollers).
  void set_discoverers(const config::Config& cfg) {
    std::map<std::string, std::shared_ptr<Discoverer>> next;
    for (const auto& a : cfg.apps) {
      if (!a.discover) continue;
      auto old = discoverers.find(a.name);
      if (old != discoverers.end() && old->second->same_as(a)) {
        next.emplace(a.name, old->second);
        discoverers.erase(old);
        continue;
      }
      auto d = std::make_shared<Discoverer>(io, a, discovery_budget(a));
      next.emplace(a.name, d);
      start_discovery(a.name, d);
    }
    for (auto& [name, d] : discoverers) {
      d->stop();
      if (auto p = poller(name)) p->set_discovered({});
    }
    discoverers = std::move(next);
  }

  void maybe_finished() {
    if (mode != Mode::once || !finished_cb) return;
    for (auto& p : pollers)
      if (!p->finished()) return;
    auto cb = std::move(finished_cb);
    finished_cb = nullptr;
    cb();
  }

  std::size_t in_flight() const {
    std::size_t n = 0;
    for (auto& p : pollers) n += p->in_flight();
    for (auto& p : retired) n += p->in_flight();
    for (auto& p : asks) n += p->in_flight();
    return n;
  }

  asio::awaitable<void> drain(std::chrono::milliseconds grace, std::function<void()> done) {
    asio::steady_timer t(io);
    auto deadline = steady::now() + grace;
    while (in_flight() > 0 && steady::now() < deadline) {
      t.expires_after(std::chrono::milliseconds(20));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (in_flight() > 0) {
      log::warn(events::shutdown_begin, "grace period over: cancelling in-flight requests",
                {{"in_flight", static_cast<std::uint64_t>(in_flight())}});
    }
    for (auto& p : pollers) p->cancel();
    for (auto& p : retired) p->cancel();
    for (auto& p : asks) p->cancel();
    // Cancellation completes promptly; bounded anyway.
    auto hard = steady::now() + std::chrono::seconds(2);
    while (in_flight() > 0 && steady::now() < hard) {
      t.expires_after(std::chrono::milliseconds(10));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (done) done();
  }
};

Engine::Engine(asio::io_context& io, const config::Config& cfg, ResultOut& out, Mode mode,
               cluster::Coordinator* cluster)
    : impl_(std::make_unique<Impl>(io, out, mode)) {
  impl_->poll = cfg.poll;
  impl_->cluster = cluster;
  if (cfg.poll.max_qps) {
    impl_->global =
        std::make_shared<limit::RateLimiter>(limit::LimiterOptions{.qps = *cfg.poll.max_qps}, steady::now());
  }
  impl_->set_budgets(cfg);
  for (const auto& a : cfg.apps) {
    impl_->pollers.push_back(impl_->make(a));
    if (a.discover) impl_->discoverers.emplace(a.name, std::make_shared<Discoverer>(io, a, impl_->discovery_budget(a)));
  }
}

Engine::~Engine() {
  impl_->shutdown_discovery();
  for (auto& p : impl_->pollers) p->cancel();
  for (auto& p : impl_->retired) p->cancel();
  for (auto& p : impl_->asks) p->cancel();
}

void Engine::start() {
  auto& I = *impl_;
  for (auto& p : I.pollers) {
    auto d = I.discoverers.find(p->name());
    if (d == I.discoverers.end()) {
      p->start();
    } else if (I.mode == Mode::once) {
      I.list_then_start(d->second, p);
    } else {
      // Watchlist groups start now; discovered ones join at their slots.
      p->start();
      I.start_discovery(p->name(), d->second);
    }
  }
}

Engine::ReloadSummary Engine::reload(const config::Config& cfg) {
  auto& I = *impl_;
  if (I.stopping) return {};
  I.poll = cfg.poll;
  // The global cap changes in place: no app restarts for it.
  if (cfg.poll.max_qps) {
    if (I.global)
      I.global->set_qps(*cfg.poll.max_qps, steady::now());
    else
      I.global = std::make_shared<limit::RateLimiter>(limit::LimiterOptions{.qps = *cfg.poll.max_qps}, steady::now());
  } else {
    I.global.reset();
  }
  const std::size_t pools_replaced = I.set_budgets(cfg);
  std::vector<std::shared_ptr<Poller>> next;
  std::size_t added = 0, restarted = 0, kept = 0;
  for (const auto& a : cfg.apps) {
    std::shared_ptr<Poller> old;
    for (auto& p : I.pollers) {
      if (p && p->name() == a.name) {
        old = std::move(p);
        break;
      }
    }
    const auto& budget = I.budgets.at(budget_key(a));
    // A stopped (misconfigured) app is started again by any reload: that is
    // how an operator retries it after fixing the key or the region.
    if (old && old->budget() == budget && !old->app_stopped()) {
      // Same SDKAppID and endpoint: the poller stays, with its slots, its
      // queued retries and its budget; credentials and settings apply in place.
      old->apply(a, cfg.poll);
      next.push_back(std::move(old));
      ++kept;
      continue;
    }
    auto fresh = I.make(a);
    fresh->start();
    if (old) {
      // Another SDKAppID or endpoint: a new poller, which takes over the
      // old one's retries so every group still gets its result.
      old->stop_dispatch(fresh);
      I.retired.push_back(std::move(old));
      ++restarted;
    } else {
      ++added;
    }
    next.push_back(std::move(fresh));
  }
  std::size_t removed = 0;
  for (auto& p : I.pollers) {
    if (!p) continue;
    p->stop_dispatch();
    p->forget_groups();
    I.retired.push_back(std::move(p));
    ++removed;
  }
  I.pollers = std::move(next);
  I.set_discoverers(cfg);
  // A poller made new by this reload gets what its app's discovery found.
  for (auto& p : I.pollers) {
    auto d = I.discoverers.find(p->name());
    if (d != I.discoverers.end() && d->second->last() && p->discovered_count() == 0)
      I.apply_listing(*p, *d->second->last());
  }
  // Forget retired pollers once their last request has completed.
  std::erase_if(I.retired, [](const std::shared_ptr<Poller>& p) { return p->in_flight() == 0 && p->finished(); });
  return {kept, added, restarted, removed, pools_replaced};
}

void Engine::stop(std::chrono::milliseconds grace, std::function<void()> done) {
  impl_->stopping = true;
  impl_->shutdown_discovery();
  for (auto& p : impl_->pollers) p->stop_dispatch();
  for (auto& p : impl_->retired) p->stop_dispatch();
  for (auto& p : impl_->asks) p->stop_dispatch();
  spawn_logged(
      impl_->io, [this, grace, done = std::move(done)]() mutable { return impl_->drain(grace, std::move(done)); },
      "shutdown");
}

bool Engine::finished() const {
  for (auto& p : impl_->pollers)
    if (!p->finished()) return false;
  return true;
}

std::size_t Engine::unanswered() const {
  std::size_t n = 0;
  for (auto& p : impl_->pollers) n += p->unanswered();
  return n;
}

std::size_t Engine::total_groups() const {
  std::size_t n = 0;
  for (auto& p : impl_->pollers) n += p->group_count();
  return n;
}

std::vector<AppMetrics> Engine::metrics(Freshness freshness) const {
  std::vector<AppMetrics> v;
  for (auto& p : impl_->pollers) {
    v.push_back(p->metrics(freshness));
    auto d = impl_->discoverers.find(p->name());
    if (d == impl_->discoverers.end()) continue;
    v.back().listings_ok = d->second->listings();
    v.back().listings_failed = d->second->failures();
    v.back().last_listing_unix = d->second->last_listing_unix();
  }
  return v;
}

void Engine::on_finished(std::function<void()> cb) {
  impl_->finished_cb = std::move(cb);
  impl_->maybe_finished();
}

bool Engine::list_groups(const std::string& key,
                         std::function<void(bool ok, std::string error, std::vector<ListedGroup> groups)> done) {
  auto& I = *impl_;
  auto c = I.creds.find(key);
  if (I.stopping || c == I.creds.end()) return false;
  const config::AppSettings& a = c->second;
  auto d = std::make_shared<Discoverer>(I.io, a, I.discovery_budget(a));
  I.listings.push_back(d);
  spawn_logged(
      I.io, [this, d, done = std::move(done)]() mutable { return listing_for(d, std::move(done)); },
      "listing for discover");
  return true;
}

asio::awaitable<void> Engine::listing_for(std::shared_ptr<Discoverer> d,
                                          std::function<void(bool, std::string, std::vector<ListedGroup>)> done) {
  Listing l = co_await d->list(/*filter=*/false);
  std::erase(impl_->listings, d);
  std::vector<ListedGroup> out;
  out.reserve(l.kept.size());
  for (auto& f : l.kept) out.push_back({std::move(f.id), std::move(f.type), config::group_name(f.meta)});
  done(l.ok, std::move(l.error), std::move(out));
}

namespace {
class Collect : public ResultOut {
 public:
  void push(delivery::Result&& r) override { results.push_back(std::move(r)); }
  std::vector<delivery::Result> results;
};
}  // namespace

bool Engine::ask(const std::string& key, std::vector<std::string> groups,
                 std::function<void(std::vector<delivery::Result>)> done) {
  auto& I = *impl_;
  auto b = I.budgets.find(key);
  if (I.stopping || b == I.budgets.end()) return false;
  // Cluster: only while this instance may send for the SDKAppID.
  if (const auto& h = b->second->holding(); h && !h->may_send()) return false;
  config::AppConfig a;
  static_cast<config::AppSettings&>(a) = I.creds.at(key);
  a.groups = std::move(groups);
  auto out = std::make_shared<Collect>();
  auto p = std::make_shared<Poller>(I.io, a, I.poll, Mode::once, *out, b->second);
  p->on_finished([this, raw = p.get(), out, done = std::move(done)] {
    std::erase_if(impl_->asks, [raw](const std::shared_ptr<Poller>& q) { return q.get() == raw; });
    done(std::move(out->results));
  });
  I.asks.push_back(p);
  p->start();
  return true;
}

}  // namespace groupwatch::app
