#include "groupwatch/app/engine.hpp"

#include <functional>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "app/poller.hpp"
#include "app/spawn.hpp"
#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"

namespace groupwatch::app {

namespace asio = boost::asio;
using steady = std::chrono::steady_clock;

namespace {

// Apps whose identity changed are restarted on reload; the others keep their
// pool, limiter state and slots.
bool same_identity(const config::AppConfig& a, const config::AppConfig& b) {
  return a.sdkappid == b.sdkappid && a.admin == b.admin && a.secret_key == b.secret_key && a.endpoint == b.endpoint &&
         a.ca_file == b.ca_file && a.tls_verify == b.tls_verify && a.usersig_ttl == b.usersig_ttl;
}

}  // namespace

struct Engine::Impl {
  asio::io_context& io;
  ResultOut& out;
  Mode mode;
  config::PollConfig poll;
  std::vector<config::AppConfig> app_configs;  // without groups and keys, for reload comparisons
  std::shared_ptr<limit::RateLimiter> global;
  std::vector<std::shared_ptr<Poller>> pollers;
  std::vector<std::shared_ptr<Poller>> retired;  // replaced on reload, draining
  std::function<void()> finished_cb;
  bool stopping = false;

  Impl(asio::io_context& i, ResultOut& o, Mode m) : io(i), out(o), mode(m) {}

  std::shared_ptr<Poller> make(const config::AppConfig& a) {
    auto p = std::make_shared<Poller>(io, a, poll, mode, out, global);
    p->on_finished([this] { maybe_finished(); });
    return p;
  }

  void maybe_finished() {
    if (mode != Mode::once || !finished_cb) return;
    for (auto& p : pollers)
      if (!p->finished()) return;
    auto cb = std::move(finished_cb);
    finished_cb = nullptr;
    cb();
  }

  static config::AppConfig stripped(const config::AppConfig& a) {
    config::AppConfig c = a;
    c.groups.clear();
    // Only a fingerprint of the key is kept, to see a rotated key on reload.
    c.secret_key = std::to_string(std::hash<std::string>{}(a.secret_key));
    return c;
  }

  std::size_t in_flight() const {
    std::size_t n = 0;
    for (auto& p : pollers) n += p->in_flight();
    for (auto& p : retired) n += p->in_flight();
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
    // Cancellation completes promptly; bounded anyway.
    auto hard = steady::now() + std::chrono::seconds(2);
    while (in_flight() > 0 && steady::now() < hard) {
      t.expires_after(std::chrono::milliseconds(10));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
    }
    if (done) done();
  }
};

Engine::Engine(asio::io_context& io, const config::Config& cfg, ResultOut& out, Mode mode)
    : impl_(std::make_unique<Impl>(io, out, mode)) {
  impl_->poll = cfg.poll;
  if (cfg.poll.max_qps) {
    impl_->global =
        std::make_shared<limit::RateLimiter>(limit::LimiterOptions{.qps = *cfg.poll.max_qps}, steady::now());
  }
  for (const auto& a : cfg.apps) {
    impl_->pollers.push_back(impl_->make(a));
    impl_->app_configs.push_back(Impl::stripped(a));
  }
}

Engine::~Engine() {
  for (auto& p : impl_->pollers) p->cancel();
  for (auto& p : impl_->retired) p->cancel();
}

void Engine::start() {
  for (auto& p : impl_->pollers) p->start();
}

void Engine::reload(const config::Config& cfg) {
  auto& I = *impl_;
  if (I.stopping) return;
  bool poll_changed = !(cfg.poll.connections == I.poll.connections && cfg.poll.timeout == I.poll.timeout &&
                        cfg.poll.retries == I.poll.retries && cfg.poll.recheck == I.poll.recheck);
  I.poll = cfg.poll;
  if (cfg.poll.max_qps) {
    if (I.global)
      I.global->set_qps(*cfg.poll.max_qps, steady::now());
    else
      I.global = std::make_shared<limit::RateLimiter>(limit::LimiterOptions{.qps = *cfg.poll.max_qps}, steady::now());
  } else {
    I.global.reset();
  }
  std::vector<std::shared_ptr<Poller>> next;
  std::vector<config::AppConfig> next_cfgs;
  std::size_t added = 0, restarted = 0, kept = 0;
  for (const auto& a : cfg.apps) {
    std::shared_ptr<Poller> found;
    for (std::size_t i = 0; i < I.pollers.size(); ++i) {
      if (I.pollers[i] && I.pollers[i]->name() == a.name) {
        if (!poll_changed && !I.global && same_identity(I.app_configs[i], Impl::stripped(a))) {
          found = I.pollers[i];
        } else {
          I.pollers[i]->stop_dispatch();
          I.retired.push_back(I.pollers[i]);
          ++restarted;
        }
        I.pollers[i].reset();
        break;
      }
    }
    if (found) {
      found->set_groups(a.groups);
      found->set_qps(a.qps);
      found->set_interval(cfg.poll.interval);
      ++kept;
    } else {
      found = I.make(a);
      found->start();
      ++added;
    }
    next.push_back(found);
    next_cfgs.push_back(Impl::stripped(a));
  }
  std::size_t removed = 0;
  for (auto& p : I.pollers) {
    if (!p) continue;
    p->stop_dispatch();
    I.retired.push_back(p);
    ++removed;
  }
  I.pollers = std::move(next);
  I.app_configs = std::move(next_cfgs);
  // Forget retired pollers once their last request has completed.
  std::erase_if(I.retired, [](const std::shared_ptr<Poller>& p) { return p->in_flight() == 0 && p->finished(); });
  log::info(events::config_reload, "config reloaded",
            {{"apps_kept", static_cast<std::uint64_t>(kept)},
             {"apps_started", static_cast<std::uint64_t>(added - restarted)},
             {"apps_restarted", static_cast<std::uint64_t>(restarted)},
             {"apps_removed", static_cast<std::uint64_t>(removed)},
             {"groups", static_cast<std::uint64_t>(cfg.total_groups())}});
}

void Engine::stop(std::chrono::milliseconds grace, std::function<void()> done) {
  impl_->stopping = true;
  for (auto& p : impl_->pollers) p->stop_dispatch();
  for (auto& p : impl_->retired) p->stop_dispatch();
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

std::vector<AppMetrics> Engine::metrics() const {
  std::vector<AppMetrics> v;
  for (auto& p : impl_->pollers) v.push_back(p->metrics());
  return v;
}

void Engine::on_finished(std::function<void()> cb) {
  impl_->finished_cb = std::move(cb);
  impl_->maybe_finished();
}

}  // namespace groupwatch::app
