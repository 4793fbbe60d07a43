#include "app/poller.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "app/spawn.hpp"
#include "groupwatch/schedule/cursor.hpp"
#include "groupwatch/schedule/plan.hpp"
#include "groupwatch/tencent/answer.hpp"
#include "groupwatch/tencent/usersig.hpp"
#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;
using wall = std::chrono::system_clock;

std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(wall::now().time_since_epoch()).count();
}

namespace {

std::int64_t wall_ms(wall::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

std::int64_t steady_ms(steady::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}

// Final failures are logged once, then summarised at most this often.
constexpr std::chrono::milliseconds failure_log_every = 10s;

// What a poller takes of `poll:` besides the interval, at start and on reload.
// (The interval moves the schedule: set_interval.)
void take_poll_settings(PollSettings& s, const config::PollConfig& poll) {
  s.recheck = poll.recheck;
  s.retries = poll.retries;
  s.max_in_flight = static_cast<std::size_t>(std::max(1, poll.connections));
}

}  // namespace

// ---------------------------------------------------------------- UserSigCache

UserSigCache::UserSigCache(std::string key, std::uint64_t sdkappid, std::string admin, std::int64_t ttl_s)
    : key_(std::move(key)), sdkappid_(sdkappid), admin_(std::move(admin)), ttl_s_(std::max<std::int64_t>(ttl_s, 2)) {}

const std::string& UserSigCache::get(std::int64_t now_unix) {
  // Renewed at half life: a request never carries a signature close to expiry.
  if (sig_.empty() || now_unix >= created_ + ttl_s_ / 2 || now_unix < created_) renew(now_unix);
  return sig_;
}

bool UserSigCache::signs_as(const std::string& key, std::uint64_t sdkappid, const std::string& admin,
                            std::int64_t ttl_s) const {
  return key == key_ && sdkappid == sdkappid_ && admin == admin_ && std::max<std::int64_t>(ttl_s, 2) == ttl_s_;
}

void UserSigCache::renew(std::int64_t now_unix) {
  if (!sig_.empty()) ++renewals_;
  sig_ = tencent::make_usersig(key_, sdkappid_, admin_, ttl_s_, now_unix);
  created_ = now_unix;
}

// ---------------------------------------------------------------- Poller

Poller::Poller(asio::io_context& io, const config::AppConfig& app, const config::PollConfig& poll, Mode mode,
               ResultOut& out, std::shared_ptr<Budget> budget)
    : io_(io),
      app_(app),
      out_(out),
      budget_(std::move(budget)),
      sig_(app.secret_key, app.sdkappid, app.admin,
           std::chrono::duration_cast<std::chrono::seconds>(app.usersig_ttl).count()),
      rng_(std::random_device{}()),
      wake_(io) {
  settings_.mode = mode;
  settings_.interval = poll.interval;
  take_poll_settings(settings_, poll);
  endpoint_ = app_endpoint(app_);
  forget_secret(app_);
  m_.name = app_.name;
  m_.sdkappid = app_.sdkappid;
  m_.latency_buckets.assign(std::size(latency_bounds_ms) + 1, 0);
  set_groups(app.groups, app.group_meta);
}

Poller::~Poller() {
  budget_->unsubscribe(this);
  if (holding_) holding_->unwatch(this);
}

void Poller::start() {
  if (running_) return;
  running_ = true;
  if (!app_.tls_verify)
    log::warn(events::tls_verify_disabled, "TLS verification is off for this app: answers are not authenticated",
              {{"app", app_.name}});
  if (settings_.mode == Mode::run) position_cursor(sched_.read(wall::now(), steady::now()).now);
  // Every admission and withdrawal at the shared budget may make room for
  // this dispatcher's next request.
  std::weak_ptr<Poller> weak = weak_from_this();
  budget_->subscribe(this, [weak] {
    if (auto self = weak.lock()) self->notify();
  });
  if (settings_.mode == Mode::run && budget_->holding()) {
    holding_ = budget_->holding();
    holding_->watch(this, [weak] {
      if (auto self = weak.lock()) self->notify();
    });
  }
  log::info(events::app_started, "polling",
            {{"app", app_.name},
             {"groups", static_cast<std::uint64_t>(groups_.size())},
             {"qps", app_.qps},
             {"endpoint", endpoint_.url()}});
  spawn_logged(
      io_, [self = shared_from_this()]() { return self->dispatch(); }, "dispatcher " + app_.name);
  check_finished();
}

void Poller::set_groups(std::vector<std::string> ids,
                        const std::unordered_map<std::string, config::GroupMetaPtr>& meta) {
  std::vector<Entry> next;
  next.reserve(ids.size() + groups_.size());
  for (auto& id : ids) {
    auto m = meta.find(id);
    next.push_back(Entry{std::move(id), m == meta.end() ? nullptr : m->second, from_config});
  }
  for (const auto& g : groups_)
    if (g.from & from_discovery) next.push_back(Entry{g.id, (g.from & from_config) ? nullptr : g.meta, from_discovery});
  replace_groups(std::move(next));
}

void Poller::set_discovered(std::vector<std::pair<std::string, config::GroupMetaPtr>> found) {
  std::vector<Entry> next;
  next.reserve(found.size() + groups_.size());
  for (auto& [id, meta] : found) next.push_back(Entry{std::move(id), std::move(meta), from_discovery});
  for (const auto& g : groups_)
    if (g.from & from_config) next.push_back(Entry{g.id, g.meta, from_config});
  replace_groups(std::move(next));
}

std::size_t Poller::discovered_count() const {
  return static_cast<std::size_t>(
      std::count_if(groups_.begin(), groups_.end(), [](const Group& g) { return (g.from & from_discovery) != 0; }));
}

namespace {

// The watchlist's name and labels, else the vendor's name.
config::GroupMetaPtr merge_meta(const config::GroupMetaPtr& watchlist, const config::GroupMetaPtr& vendor) {
  if (!watchlist) return vendor;
  if (!watchlist->name.empty() || !vendor || vendor->name.empty()) return watchlist;
  auto both = std::make_shared<config::GroupMeta>(*watchlist);
  both->name = vendor->name;
  return both;
}

}  // namespace

void Poller::replace_groups(std::vector<Entry> entries) {
  // Slot order (hash, then ID); the same ID twice becomes one group.
  std::vector<std::pair<std::uint64_t, std::size_t>> order;
  order.reserve(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) order.emplace_back(schedule::stable_hash(entries[i].id), i);
  std::sort(order.begin(), order.end(), [&](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : entries[a.second].id < entries[b.second].id;
  });
  std::vector<Entry> ids;
  ids.reserve(entries.size());
  for (const auto& [h, i] : order) {
    Entry& e = entries[i];
    if (!ids.empty() && ids.back().id == e.id) {
      Entry& kept = ids.back();
      kept.meta = (kept.from & from_config) ? merge_meta(kept.meta, e.meta) : merge_meta(e.meta, kept.meta);
      kept.from |= e.from;
      continue;
    }
    ids.push_back(std::move(e));
  }
  bool same = ids.size() == groups_.size();
  for (std::size_t i = 0; same && i < ids.size(); ++i) same = ids[i].id == groups_[i].id;
  if (same) {
    // Only names, labels or sources changed: no slot moves, nothing un-parks.
    for (std::size_t i = 0; i < ids.size(); ++i) {
      groups_[i].meta = std::move(ids[i].meta);
      groups_[i].from = ids[i].from;
    }
    return;
  }
  // Groups that left the watchlist get no more results: their series go
  // too (Prometheus), instead of living on with their last count. Both
  // lists are in slot order, so one merge walk finds them.
  if (running_) {
    std::size_t j = 0;
    for (const auto& g : groups_) {
      while (j < ids.size() && schedule::slot_before(ids[j].id, g.id)) ++j;
      if (j < ids.size() && ids[j].id == g.id) continue;
      out_.forget(app_.name, g.id);
    }
  }
  std::vector<Group> next;
  next.reserve(ids.size());
  // A changed watchlist un-parks every group (interface.md: parked "until
  // the watchlist changes"); a group that stays keeps its freshness, a new
  // one counts from now.
  const auto now_ms = steady_ms(steady::now());
  std::size_t j = 0;
  for (auto& e : ids) {
    while (j < groups_.size() && schedule::slot_before(groups_[j].id, e.id)) ++j;
    const bool kept = j < groups_.size() && groups_[j].id == e.id;
    next.push_back(Group{std::move(e.id), 0, kept ? groups_[j].fresh_ms : now_ms, std::move(e.meta), e.from});
  }
  groups_ = std::move(next);
  if (running_ && settings_.mode == Mode::run) position_cursor(sched_.read(wall::now(), steady::now()).now);
  notify();
}

void Poller::apply(const config::AppConfig& app, const config::PollConfig& poll) {
  const auto ttl_s = std::chrono::duration_cast<std::chrono::seconds>(app.usersig_ttl).count();
  if (!sig_.signs_as(app.secret_key, app.sdkappid, app.admin, ttl_s)) {
    sig_ = UserSigCache(app.secret_key, app.sdkappid, app.admin, ttl_s);
    target_sig_.clear();
  }
  app_.admin = app.admin;
  app_.usersig_ttl = app.usersig_ttl;
  app_.qps = app.qps;
  app_.tls_verify = app.tls_verify;
  app_.ca_file = app.ca_file;
  take_poll_settings(settings_, poll);
  set_groups(app.groups, app.group_meta);
  set_interval(poll.interval);
  notify();
}

void Poller::set_interval(std::chrono::milliseconds interval) {
  if (interval == settings_.interval) return;
  settings_.interval = interval;
  if (running_ && settings_.mode == Mode::run) position_cursor(sched_.read(wall::now(), steady::now()).now);
  notify();
}

void Poller::forget_groups() {
  for (const auto& g : groups_) out_.forget(app_.name, g.id);
}

void Poller::stop_dispatch(std::shared_ptr<Poller> successor) {
  stopping_ = true;
  successor_ = successor;
  hand_off_retries(successor.get());
  notify();
  check_finished();
}

void Poller::hand_off_retries(Poller* successor) {
  // To the successor, or ended now with their last failure as the result.
  auto queued = std::move(retries_);
  retries_ = {};
  for (; !queued.empty(); queued.pop()) {
    Work w = queued.top();
    if (successor) {
      successor->adopt(std::move(w));
    } else {
      finish(std::move(w), std::nullopt, w.last_code, w.last_info);
    }
  }
}

void Poller::cancel() {
  stopping_ = true;
  budget_->pool()->shutdown();
  notify();
}

std::size_t Poller::unanswered() const {
  return groups_.size() > once_answered_ ? groups_.size() - once_answered_ : 0;
}

void Poller::notify() {
  wake_.cancel();
}

std::chrono::nanoseconds Poller::interval_ns() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(settings_.interval);
}

void Poller::position_cursor(wall::time_point now) {
  slots_.position(now, groups_.size(), interval_ns());
  m_.cycle = slots_.cycle();
  m_.cycle_dispatched = slots_.position_in_cycle();
}

Poller::Group* Poller::find_group(const Work& w) {
  if (w.slot < groups_.size() && groups_[w.slot].id == w.group_id) return &groups_[w.slot];
  return find_group(w.group_id);
}

Poller::Group* Poller::find_group(const std::string& id) {
  // Slot order is hash order: a binary search by hash finds the group even
  // after a reload reshuffled the vector.
  auto it = std::lower_bound(groups_.begin(), groups_.end(), id,
                             [](const Group& g, const std::string& key) { return schedule::slot_before(g.id, key); });
  if (it != groups_.end() && it->id == id) return &*it;
  return nullptr;
}

std::optional<Poller::Work> Poller::next_due(steady::time_point& wake_at) {
  auto now = steady::now();
  if (!retries_.empty()) {
    if (retries_.top().ready <= now) {
      Work w = retries_.top();
      retries_.pop();
      return w;
    }
    wake_at = std::min(wake_at, retries_.top().ready);
  }
  if (settings_.mode == Mode::once) {
    if (once_next_ < groups_.size()) {
      ++m_.cycle_dispatched;
      Work w{groups_[once_next_].id, 0, 0, 0, {}, 0, {}};
      w.slot = once_next_++;
      return w;
    }
    return std::nullopt;
  }
  // The slot plan (schedule::Cursor) says what is due; this does the rest:
  // logging, parked groups, the wake-up time. It runs on the schedule clock:
  // wall time carried by the monotonic clock across wall-clock steps.
  auto reading = sched_.read(wall::now(), now);
  if (reading.step != std::chrono::nanoseconds{0}) on_clock_step(reading);
  auto now_wall = reading.now;
  for (;;) {
    auto step = slots_.next(now_wall, groups_.size(), interval_ns());
    switch (step.kind) {
      case schedule::Step::Kind::empty:
        return std::nullopt;  // woken by a reload
      case schedule::Step::Kind::wait:
        wake_at = std::min(wake_at, now + std::chrono::duration_cast<steady::duration>(step.at - now_wall));
        return std::nullopt;
      case schedule::Step::Kind::cycle_done:
        // Counts since the previous cycle.done, not since start.
        log::info(events::cycle_done, "cycle dispatched",
                  {{"app", app_.name},
                   {"cycle", step.cycle},
                   {"groups", static_cast<std::uint64_t>(groups_.size())},
                   {"dispatched", m_.cycle_dispatched},
                   {"results", m_.results - cycle_mark_.results},
                   {"ok", m_.results_ok - cycle_mark_.results_ok},
                   {"failed", (m_.results - m_.results_ok) - (cycle_mark_.results - cycle_mark_.results_ok)},
                   {"rate_limited", m_.rate_limited - cycle_mark_.rate_limited}});
        m_.cycle = slots_.cycle();
        m_.cycle_dispatched = 0;
        cycle_mark_ = CycleMark{m_.results, m_.results_ok, m_.rate_limited, false};
        if (!app_.tls_verify)
          log::warn(events::tls_verify_disabled, "TLS verification is off for this app: answers are not authenticated",
                    {{"app", app_.name}});
        continue;
      case schedule::Step::Kind::due:
        break;
    }
    if (step.behind && overrun_logged_cycle_ != step.cycle) {
      overrun_logged_cycle_ = step.cycle;
      ++m_.overruns;
      log_overrun(step.cycle, groups_.size() - step.index);
    }
    Group& g = groups_[step.index];
    ++m_.cycle_dispatched;
    if (g.parked_until_ms != 0) {
      if (wall_ms(now_wall) < g.parked_until_ms) continue;
      g.parked_until_ms = 0;  // recheck period over: ask again
    }
    Work w{g.id, step.cycle, 0, 0, {}, 0, {}};
    w.slot = step.index;
    return w;
  }
}

// A step forward skips the slots in between (they are not caught up: that
// would poll at the cap for as long as the step); a step back is not
// followed (the schedule keeps its pace rather than wait, or poll groups
// twice within an interval).
void Poller::on_clock_step(const schedule::ScheduleClock::Reading& r) {
  ++m_.clock_steps;
  const double secs = std::chrono::duration<double>(r.step).count();
  if (r.step > std::chrono::nanoseconds{0}) {
    const auto n = groups_.size();
    const auto before = slots_.cycle() * n + slots_.position_in_cycle();
    position_cursor(r.now);
    const auto after = slots_.cycle() * n + slots_.position_in_cycle();
    const std::uint64_t skipped = after > before ? std::min<std::uint64_t>(after - before, n) : 0;
    m_.slots_skipped += skipped;
    log::warn(events::clock_step,
              "the wall clock stepped forward: the schedule follows it at the next slot; the slots in between are "
              "skipped this cycle, not caught up",
              {{"app", app_.name}, {"step_s", secs}, {"skipped", skipped}});
  } else {
    log::warn(
        events::clock_step,
        "the wall clock stepped back: the schedule keeps its pace on the monotonic clock (no group is polled "
        "twice within an interval); it runs ahead of the wall clock until the clock steps forward again or a "
        "restart",
        {{"app", app_.name}, {"step_s", secs}, {"ahead_s", std::chrono::duration<double>(sched_.ahead()).count()}});
  }
}

// Names the likeliest of the three causes: the cap itself is too small for
// the watchlist, rate-limit answers lowered the rate, or too few requests may
// be in flight for the answers' latency.
void Poller::log_overrun(std::uint64_t cycle, std::size_t behind) {
  const double secs = std::chrono::duration<double>(settings_.interval).count();
  const auto capacity = static_cast<std::uint64_t>(budget_->configured_qps() * secs);
  std::string cause;
  if (capacity < groups_.size()) {
    cause = "more groups than qps x interval (raise qps up to the vendor's 200, or the interval)";
  } else if (m_.rate_limited > cycle_mark_.rate_limited ||
             budget_->effective_qps() < budget_->configured_qps() * 0.99) {
    cause = fmt::format("rate-limit answers lowered the rate to {:.1f} qps (the vendor throttled this SDKAppID)",
                        budget_->effective_qps());
  } else if (cycle_mark_.in_flight_full) {
    cause = fmt::format(
        "all {} requests allowed in flight were busy: answers are too slow for qps x latency (raise poll.connections)",
        settings_.max_in_flight);
  } else {
    cause = "requests were sent slower than their slots (pauses or failing connections)";
  }
  log::warn(events::cycle_overrun,
            "the next cycle began before this one was dispatched: " + cause +
                "; every group is still polled, as fast as the cap allows",
            {{"app", app_.name},
             {"cycle", cycle},
             {"behind", static_cast<std::uint64_t>(behind)},
             {"groups", static_cast<std::uint64_t>(groups_.size())},
             {"capacity", capacity},
             {"qps", budget_->effective_qps()}});
}

bool Poller::may_send(steady::time_point now) {
  if (!holding_) return true;
  const bool may = holding_->may_send(now);
  if (may == sending_) return may;
  sending_ = may;
  if (may) {
    position_cursor(sched_.read(wall::now(), now).now);
  } else {
    hand_off_retries(nullptr);
  }
  return may;
}

asio::awaitable<void> Poller::dispatch() {
  auto self = shared_from_this();
  std::optional<Work> pending;
  while (!stopping_ && !stopped_) {
    auto now = steady::now();
    auto wake_at = steady::time_point::max();
    if (!may_send(now)) {
      // Woken by the holding when it changes.
      if (pending && pending->attempt > 0)
        finish(std::move(*pending), std::nullopt, pending->last_code, pending->last_info);
      pending.reset();
    } else if (paused_until_ > now) {
      wake_at = paused_until_;
    } else {
      if (!pending) pending = next_due(wake_at);
      // A request is started only while few others wait for a permit or a
      // connection at the shared budget: its permit is taken at the wire
      // (http::Gate), so starting it early would only hold a connection.
      const auto start_at = pending ? budget_->next_start(now) : now;
      if (pending && start_at > now) wake_at = std::min(wake_at, start_at);
      if (pending && in_flight_ < settings_.max_in_flight && budget_->contenders() < budget_->lead() &&
          start_at <= now) {
        ++in_flight_;
        last_dispatch_ = now;
        budget_->contend();
        spawn_logged(
            io_, [self, w = std::move(*pending)]() mutable { return self->attempt(std::move(w)); },
            "poll " + app_.name);
        pending.reset();
        continue;
      }
      if (pending) ++m_.limiter_waits;  // woken by the budget or a completion
      if (pending && in_flight_ >= settings_.max_in_flight) cycle_mark_.in_flight_full = true;
    }
    // once: done when every group was sent and nothing can come back for a
    // retry (an attempt in flight may still queue one).
    if (settings_.mode == Mode::once && !pending && once_next_ >= groups_.size() && retries_.empty() && in_flight_ == 0)
      break;
    wake_.expires_at(wake_at);
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  // A retry taken from the queue but not sent is still owed its result.
  if (pending && pending->attempt > 0) retry_later(std::move(*pending), 0ms, false);
  check_finished();
}

// The target differs only in `random` while the UserSig stays the same: the
// rest is encoded once per signature.
std::shared_ptr<const std::string> Poller::target_prefix(std::int64_t now_unix) {
  const std::string& sig = sig_.get(now_unix);
  if (sig != target_sig_ || !target_prefix_) {
    target_sig_ = sig;
    std::string prefix = tencent::build_target(endpoint_.base_path, app_.sdkappid, app_.admin, sig, 0);
    prefix.resize(prefix.rfind("&random=") + 8);
    target_prefix_ = std::make_shared<const std::string>(std::move(prefix));
  }
  return target_prefix_;
}

asio::awaitable<void> Poller::attempt(Work w) {
  auto self = shared_from_this();
  auto now_unix = unix_now();
  // The request is written from these pieces, without joining them first:
  // each stays put until the answer (a new signature makes a new prefix).
  const std::shared_ptr<const std::string> prefix = target_prefix(now_unix);
  const std::int64_t sig_age_s = now_unix - sig_.created();
  char random[12];
  const auto random_end = std::to_chars(random, random + sizeof random, static_cast<std::uint32_t>(rng_())).ptr;
  const http::Text target{
      {*prefix, std::string_view(random, static_cast<std::size_t>(random_end - random)), "&contenttype=json"}};
  std::string escaped;  // the body of an ID that JSON must escape
  http::Text body;
  if (auto pieces = tencent::body_pieces(w.group_id)) {
    body = http::Text{{(*pieces)[0], (*pieces)[1], (*pieces)[2]}};
  } else {
    escaped = tencent::build_body(w.group_id);
    body = http::Text{{escaped}};
  }
  auto t0 = steady::now();
  auto pool = budget_->pool();  // a reload may replace it while we wait
  http::Response r = co_await pool->send(target, body, budget_.get());
  answered(std::move(w), r, t0, sig_age_s);
  pool->recycle(std::move(r.body));
}

// Not part of attempt(): a coroutine keeps every local in its frame, and a
// frame over 1 KiB is not recycled by Asio (a malloc and a free per poll).
void Poller::answered(Work&& w, const http::Response& r, steady::time_point t0, std::int64_t sig_age_s) {
  if (!r.permit) budget_->withdraw();
  if (r.sent) ++m_.requests;
  if (r.failure == http::Failure::none) budget_->observe(r.since_sent);
  double secs = std::chrono::duration<double>(steady::now() - t0).count();
  --in_flight_;
  ++w.attempt;
  notify();
  // Every way out of here may have given the last result (once) or ended the
  // last in-flight request (shutdown): check on each of them.
  struct CheckFinished {
    Poller* p;
    ~CheckFinished() { p->check_finished(); }
  } check_on_exit{this};
  if (r.failure == http::Failure::cancelled) {
    // Shutdown past its grace: nothing was fetched. A retry still gets its
    // result, the failure that made it one.
    if (w.attempt > 1) finish(std::move(w), std::nullopt, w.last_code, w.last_info);
    return;
  }
  {
    std::size_t b = 0;
    while (b < std::size(latency_bounds_ms) && secs * 1000.0 > latency_bounds_ms[b]) ++b;
    ++m_.latency_buckets[b];
    m_.latency_sum_s += secs;
  }
  Outcome o = Outcome::from(r);
  if (o.invalid) log::debug(events::answer_invalid, o.invalid_what, {{"app", app_.name}, {"group", w.group_id}});
  AttemptState st;
  st.attempt = w.attempt;
  st.extra = w.extra;
  st.retries = settings_.retries;
  // A retired poller with a successor still retries: the successor sends it.
  st.stopping = stopping_ && successor_.expired();
  auto now = steady::now();
  st.bad_sig_renewed_recently = bad_sig_renewed_at_ != steady::time_point{} && now - bad_sig_renewed_at_ < 60s;
  st.sig_fresh = sig_age_s >= 0 && sig_age_s < fresh_sig_age_s;
  std::uniform_real_distribution<double> jitter(0.5, 1.5);
  Decision d = decide(st, o, jitter(rng_));
  apply_decision(w, d);
}

void Poller::apply_decision(Work& w, Decision& d) {
  auto now = steady::now();
  if (d.failure_kind.empty()) {
    ++m_.answers_by_code[d.code];
  } else {
    ++m_.failures_by_kind[d.failure_kind];
  }
  if (d.lower_rate) {
    ++m_.rate_limited;
    if (budget_->on_rate_limited()) {
      // Lowered at most once a second while throttled: one line, then at
      // most one a minute with the count.
      ++rate_lowered_unlogged_;
      if (rate_log_.due(now)) {
        log::warn(events::app_rate_lowered, "rate-limit answers: lowering the request rate",
                  {{"app", app_.name},
                   {"code", d.code},
                   {"qps", budget_->effective_qps()},
                   {"lowered", rate_lowered_unlogged_},
                   {"next_report_in",
                    format_duration(std::chrono::duration_cast<std::chrono::milliseconds>(rate_log_.every))}});
        rate_lowered_unlogged_ = 0;
      }
    }
  }
  if (d.renew_sig) {
    sig_.renew(unix_now());
    if (d.bad_sig) {
      bad_sig_renewed_at_ = now;
      log::warn(events::usersig_rejected, "signature rejected: renewed once", {{"app", app_.name}, {"code", d.code}});
    } else {
      log::info(events::usersig_renewed, "UserSig expired on the server: renewed", {{"app", app_.name}});
    }
  }
  if (d.code == 0 && d.failure_kind.empty()) skew_pause_ = 0ms;
  if (d.clock_skew && paused_until_ <= now) {
    // One line per pause, not one per group: 1 min, doubling to 15 min.
    skew_pause_ = std::min<std::chrono::milliseconds>(skew_pause_ == 0ms ? 60s : skew_pause_ * 2, 15min);
    paused_until_ = now + skew_pause_;
    m_.paused = true;
    log::error(events::app_paused,
               "the vendor calls a UserSig made seconds ago expired (70001): this machine's clock differs from the "
               "vendor's by more than usersig_ttl; fix the clock (NTP, timedatectl) - pausing this app",
               {{"app", app_.name},
                {"usersig_ttl", format_duration(app_.usersig_ttl)},
                {"local_time", format_rfc3339_ms(wall::now())},
                {"pause", format_duration(skew_pause_)}});
  }
  if (d.pause_app) {
    paused_until_ = now + pause_for;
    m_.paused = true;
    log::warn(events::app_paused, "too many bad signatures: pausing this app for 60 s",
              {{"app", app_.name}, {"code", d.code}});
  }
  switch (d.what) {
    case Decision::Do::retry:
      w.last_code = d.code;
      w.last_info = std::move(d.info);
      if (!d.counts) ++w.extra;
      retry_later(std::move(w), d.delay, d.counts);
      break;
    case Decision::Do::finish:
      finish(std::move(w), d.count, d.code, std::move(d.info));
      break;
    case Decision::Do::park: {
      std::string id = w.group_id;
      finish(std::move(w), std::nullopt, d.code, std::move(d.info));
      park(id, d.code);
      break;
    }
    case Decision::Do::stop_app:
      finish(std::move(w), std::nullopt, d.code, std::move(d.info));
      stop_app(d.stop_reason);
      break;
  }
}

void Poller::finish(Work&& w, std::optional<std::uint64_t> count, std::int64_t code, std::string info) {
  Group* g = find_group(w);
  delivery::Result r;
  r.time = wall::now();
  r.app = app_.name;
  r.sdkappid = app_.sdkappid;
  r.group_id = std::move(w.group_id);
  r.online_member_num = code == 0 ? count : std::nullopt;
  r.error_code = code;
  r.error_info = std::move(info);
  ++m_.results;
  if (g) r.meta = g->meta;
  if (code == 0) {
    ++m_.results_ok;
    if (g) g->fresh_ms = steady_ms(steady::now());
  }
  ++once_final_;
  if (code != tencent::network_error_code) ++once_answered_;
  if (code != 0) note_failure(r.group_id, code, r.error_info);
  out_.push(std::move(r));
}

void Poller::note_failure(const std::string& group, std::int64_t code, const std::string& info) {
  // Parking and stopping the app log their own lines.
  auto action = tencent::classify(code).action;
  if (action == tencent::Action::park_group || action == tencent::Action::stop_app) return;
  // A failing endpoint gives a failure per group: one warning, then at most
  // one every failure_log_every with the count since the last one.
  ++failures_unlogged_;
  auto now = steady::now();
  // A new kind of failure in the window (another code, or another cause
  // before the first ':', e.g. "connect failed" turning into a TLS failure)
  // is told at once; repeats wait for the summary. At most 8 kinds a window.
  std::string kind = std::to_string(code) + ' ' + info.substr(0, info.find(':'));
  const bool in_window = last_failure_log_ != steady::time_point{} && now - last_failure_log_ < failure_log_every;
  if (!in_window) failure_kinds_logged_.clear();
  const bool told = failure_kinds_logged_.count(kind) != 0 || failure_kinds_logged_.size() >= 8;
  if (in_window && told) {
    log::debug(events::poll_error, "poll failed",
               {{"app", app_.name}, {"group", group}, {"code", code}, {"error", info}});
    return;
  }
  log::warn(events::poll_error, "poll failed: " + info,
            {{"app", app_.name},
             {"group", group},
             {"code", code},
             {"error", info},
             {"failures", failures_unlogged_},
             {"next_report_in", format_duration(failure_log_every)}});
  failures_unlogged_ = 0;
  if (!in_window) last_failure_log_ = now;
  failure_kinds_logged_.insert(std::move(kind));
}

void Poller::retry_later(Work w, std::chrono::milliseconds delay, bool counts) {
  if (counts) ++m_.retries;
  w.ready = steady::now() + delay;
  if (stopping_ || stopped_) {
    // Retired by a reload: the successor sends it within the cycle.
    if (auto next = successor_.lock()) {
      next->adopt(std::move(w));
    } else {
      finish(std::move(w), std::nullopt, w.last_code, w.last_info);
    }
    return;
  }
  retries_.push(std::move(w));
  notify();
}

void Poller::adopt(Work w) {
  if (stopping_ || stopped_) {
    finish(std::move(w), std::nullopt, w.last_code, w.last_info);
    return;
  }
  retries_.push(std::move(w));
  notify();
}

void Poller::park(const std::string& id, std::int64_t code) {
  Group* g = find_group(id);
  if (!g) return;
  g->parked_until_ms = wall_ms(wall::now() + settings_.recheck);
  out_.forget(app_.name, id);
  log::info(events::group_parked, "group parked until the watchlist changes or the recheck period passes",
            {{"app", app_.name},
             {"group", id},
             {"code", code},
             {"reason", std::string(tencent::classify(code).meaning)},
             {"recheck", format_duration(settings_.recheck)}});
}

void Poller::stop_app(const std::string& reason) {
  if (stopped_) return;
  stopped_ = true;
  m_.stopped = true;
  m_.stop_reason = reason;
  log::error(events::app_stopped, "app stopped: " + reason + "; other apps go on", {{"app", app_.name}});
  notify();
}

void Poller::check_finished() {
  if (finished_) return;
  bool done = false;
  if (settings_.mode == Mode::once) done = once_final_ >= groups_.size() && in_flight_ == 0;
  if ((stopped_ || stopping_) && in_flight_ == 0) done = true;
  if (!done) return;
  finished_ = true;
  if (on_finished_) asio::post(io_, on_finished_);
}

AppMetrics Poller::metrics(Freshness freshness) const {
  AppMetrics m = m_;
  m.qps_cap = budget_->configured_qps();
  m.qps_effective = budget_->effective_qps();
  m.groups = groups_.size();
  for (const auto& g : groups_) {
    m.parked += g.parked_until_ms != 0;
    m.discovered += (g.from & from_discovery) != 0;
  }
  m.usersig_renewals = sig_.renewals();
  auto ps = budget_->pool()->stats();
  m.connections_opened = ps.connections_opened;
  m.handshakes = ps.handshakes;
  m.connections_open = ps.open;
  m.in_flight = in_flight_;
  m.paused = paused_until_ > steady::now();
  m.clustered = holding_ != nullptr;
  m.held = !holding_ || holding_->may_send();
  if (settings_.mode == Mode::run && !groups_.empty()) {
    auto since = last_dispatch_ == steady::time_point{} ? started_at_ : last_dispatch_;
    m.idle_s = std::chrono::duration<double>(steady::now() - since).count();
    m.slot_spacing_s = std::chrono::duration<double>(settings_.interval).count() / static_cast<double>(groups_.size());
  }
  if (freshness == Freshness::skip) return m;
  // Freshness across the active groups: parked ones (dissolved, not
  // Community) get no counts by design.
  std::vector<std::int64_t> ages;
  ages.reserve(groups_.size());
  const auto now_ms = steady_ms(steady::now());
  for (const auto& g : groups_)
    if (g.parked_until_ms == 0) ages.push_back(now_ms - g.fresh_ms);
  if (!ages.empty()) {
    auto at = [&](double q) {
      auto k = static_cast<std::size_t>(q * static_cast<double>(ages.size() - 1) + 0.5);
      std::nth_element(ages.begin(), ages.begin() + static_cast<std::ptrdiff_t>(k), ages.end());
      return static_cast<double>(ages[k]) / 1000.0;
    };
    m.fresh_p50_s = at(0.5);
    m.fresh_p99_s = at(0.99);
    m.fresh_max_s = at(1.0);
  }
  return m;
}

}  // namespace groupwatch::app
