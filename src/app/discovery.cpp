#include "app/discovery.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "app/spawn.hpp"
#include "groupwatch/tencent/discovery.hpp"
#include "groupwatch/tencent/errors.hpp"
#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/text.hpp"

// GCC 12 at -O2 sees Asio's coroutine frame allocator (operator new with
// a size, operator delete with a size) as mismatched in loop(): the same false
// positive CMakeLists.txt silences for -O1 builds.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"

namespace groupwatch::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

constexpr int kAttempts = 4;                                  // per call: transient failures are retried
constexpr std::size_t kInfoWorkers = 8;                       // info calls in flight at once
constexpr std::size_t kListBodyBytes = std::size_t{8} << 20;  // 10,000 IDs is about 400 KB

http::PoolOptions discovery_pool(const config::AppSettings& app, const config::PollConfig& poll, std::size_t conns) {
  auto po = pool_options(app, poll);
  po.max_connections = conns;
  po.max_body_bytes = kListBodyBytes;
  return po;
}

asio::awaitable<void> sleep_for(asio::steady_timer& t, steady::duration d) {
  t.expires_after(d);
  co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

}  // namespace

DiscoveryBudgets make_discovery_budgets(asio::io_context& io, const config::AppSettings& app,
                                        const config::PollConfig& poll) {
  return {std::make_shared<Budget>(io, 1.0, discovery_pool(app, poll, 1)),
          std::make_shared<Budget>(io, 200.0, discovery_pool(app, poll, kInfoWorkers))};
}

Discoverer::Discoverer(asio::io_context& io, const config::AppSettings& app, DiscoveryBudgets budgets)
    : io_(io),
      app_(app),
      discover_(app.discover.value_or(config::DiscoverConfig{})),
      sig_(app.secret_key, app.sdkappid, app.admin,
           std::chrono::duration_cast<std::chrono::seconds>(app.usersig_ttl).count()),
      list_budget_(std::move(budgets.list)),
      info_budget_(std::move(budgets.info)),
      timer_(io) {
  endpoint_ = app_endpoint(app_);
  forget_secret(app_);
}

bool Discoverer::same_as(const config::AppSettings& a) const {
  const auto ttl_s = std::chrono::duration_cast<std::chrono::seconds>(a.usersig_ttl).count();
  return a.discover && *a.discover == discover_ && a.endpoint == app_.endpoint && a.ca_file == app_.ca_file &&
         a.tls_verify == app_.tls_verify && a.proxy == app_.proxy &&
         sig_.signs_as(a.secret_key, a.sdkappid, a.admin, ttl_s);
}

// One call with retries. Returns "" and the body on an answer with
// ErrorCode 0 or a per-call error the caller reads; else what went wrong.
asio::awaitable<std::string> Discoverer::call(Budget& budget, std::string_view path, std::string body,
                                              std::string& answer) {
  std::string why;
  for (int attempt = 1; attempt <= kAttempts && !stopped_; ++attempt) {
    const std::string target = tencent::build_target_for(path, endpoint_.base_path, app_.sdkappid, app_.admin,
                                                         sig_.get(unix_now()), ++random_);
    auto pool = budget.pool();
    http::Response r = co_await pool->post(target, body, &budget);
    if (!r.permit) budget.withdraw();
    // How late answers come after their permits sets the limiter's margin:
    // what keeps the command's cap at the server when this loop or the
    // network stalls (as for get_online_member_num).
    if (r.failure == http::Failure::none) budget.observe(r.since_sent);
    if (r.failure == http::Failure::cancelled) co_return "cancelled";
    std::int64_t code = 0;
    if (r.failure != http::Failure::none) {
      why = fmt::format("{}: {}", http::to_string(r.failure), r.detail);
      if (r.stale) --attempt;  // the server closed an idle connection: not the call's fault
    } else if (r.status != 200) {
      why = fmt::format("HTTP {}", r.status);
      if (r.status < 500) break;
    } else {
      // The ErrorCode decides: transient codes are retried, others end the call.
      // An invalid body is the caller's to report (it parses it whole).
      auto st = tencent::parse_status(r.body);
      code = st.invalid ? 0 : st.error_code;
      if (code == 0) {
        answer = std::move(r.body);
        co_return "";
      }
      const auto info = tencent::classify(code);
      why = fmt::format("ErrorCode {} ({}): {}", code, info.meaning, st.error_info);
      if (info.action == tencent::Action::slow_down) {
        budget.on_rate_limited();
      } else if (info.action == tencent::Action::renew_sig || info.action == tencent::Action::renew_sig_once) {
        sig_.renew(unix_now());
      } else if (info.action != tencent::Action::retry) {
        break;  // the key, the admin account, a permission: retrying will not help
      }
    }
    co_await sleep_for(timer_, std::chrono::milliseconds(500 * attempt));
  }
  co_return why.empty() ? std::string("stopped") : why;
}

asio::awaitable<std::string> Discoverer::info_worker(std::vector<Listing::Found>& all, std::size_t& next,
                                                     std::size_t& failures) {
  auto self = shared_from_this();
  while (next < all.size() && failures == 0 && !stopped_) {
    const std::size_t from = next, to = std::min(all.size(), from + tencent::info_max_groups);
    next = to;
    std::vector<std::string> ids;
    for (std::size_t i = from; i < to; ++i) ids.push_back(all[i].id);
    std::string body;
    auto why = co_await call(*info_budget_, tencent::info_command_path, tencent::build_info_body(ids), body);
    if (!why.empty()) {
      ++failures;
      co_return "get_group_info: " + why;
    }
    auto answer = tencent::parse_info_answer(body);
    if (answer.invalid) {
      ++failures;
      co_return "get_group_info: invalid answer: " + answer.invalid_what;
    }
    for (auto& g : answer.groups) {
      auto it =
          std::find_if(all.begin() + static_cast<std::ptrdiff_t>(from), all.begin() + static_cast<std::ptrdiff_t>(to),
                       [&](const Listing::Found& f) { return f.id == g.id; });
      if (it == all.begin() + static_cast<std::ptrdiff_t>(to)) continue;
      // A group gone since the listing (10010) gets no type: it is not kept.
      if (g.error_code != 0) continue;
      it->type = std::move(g.type);
      if (!g.name.empty()) it->meta = std::make_shared<config::GroupMeta>(config::GroupMeta{std::move(g.name), {}});
    }
  }
  co_return "";
}

asio::awaitable<Listing> Discoverer::list(bool filter) {
  auto self = shared_from_this();
  const auto t0 = steady::now();
  Listing out;
  std::vector<Listing::Found> all;
  std::uint64_t cursor = 0;
  do {
    std::string body;
    auto why = co_await call(*list_budget_, tencent::list_command_path,
                             tencent::build_list_body(tencent::list_max_limit, cursor), body);
    ++out.pages;
    if (!why.empty()) {
      out.error = fmt::format("get_appid_group_list page {}: {}", out.pages, why);
      co_return out;
    }
    auto page = tencent::parse_list_answer(body);
    if (page.invalid) {
      out.error = fmt::format("get_appid_group_list page {}: invalid answer: {}", out.pages, page.invalid_what);
      co_return out;
    }
    for (auto& id : page.ids) all.push_back(Listing::Found{std::move(id), {}, nullptr});
    if (page.next != 0 && page.next == cursor) {
      out.error = fmt::format("get_appid_group_list page {}: the cursor did not move", out.pages);
      co_return out;
    }
    cursor = page.next;
  } while (cursor != 0 && !stopped_);
  // The same ID on two pages (a group created between them) counts once.
  {
    std::vector<std::size_t> order(all.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](auto a, auto b) { return all[a].id < all[b].id; });
    std::vector<bool> drop(all.size(), false);
    for (std::size_t i = 1; i < order.size(); ++i) drop[order[i]] = all[order[i]].id == all[order[i - 1]].id;
    std::size_t w = 0;
    for (std::size_t i = 0; i < all.size(); ++i) {
      if (drop[i]) continue;
      if (w != i) all[w] = std::move(all[i]);
      ++w;
    }
    all.resize(w);
  }
  out.listed = all.size();
  // Type and Name, 50 groups a call, a few calls in flight.
  std::size_t next = 0, failures = 0, running = kInfoWorkers;
  std::string first_error;
  asio::steady_timer done(io_, steady::time_point::max());
  for (std::size_t k = 0; k < kInfoWorkers; ++k) {
    asio::co_spawn(io_, info_worker(all, next, failures), [&, self](std::exception_ptr e, std::string why) {
      if (e && first_error.empty()) first_error = "get_group_info: internal error";
      if (!why.empty() && first_error.empty()) first_error = why;
      if (--running == 0) done.cancel();
    });
  }
  while (running > 0) co_await done.async_wait(asio::as_tuple(asio::use_awaitable));
  if (!first_error.empty() || stopped_) {
    out.error = first_error.empty() ? "stopped" : first_error;
    co_return out;
  }
  for (auto& f : all) {
    if (f.type.empty()) continue;
    if (filter && !discover_.keeps(f.type, f.id, config::group_name(f.meta))) continue;
    ++out.kept_by_type[f.type];
    out.kept.push_back(std::move(f));
  }
  out.ok = true;
  out.took = std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() - t0);
  co_return out;
}

void Discoverer::start(std::function<void(const Listing&)> on_listing) {
  on_listing_ = std::move(on_listing);
  spawn_logged(
      io_, [self = shared_from_this()]() { return self->loop(); }, "discovery " + app_.name);
}

void Discoverer::stop() {
  // The pools are shared with the SDKAppID's other entries: a call in flight
  // ends by itself (within the timeout), nothing new starts.
  stopped_ = true;
  timer_.cancel();
}

asio::awaitable<void> Discoverer::loop() {
  auto self = shared_from_this();
  auto backoff = std::chrono::milliseconds(5s);
  while (!stopped_) {
    // Cluster: only the SDKAppID's holder lists (the list command's one
    // call a second is per SDKAppID); the others look again in a second.
    if (const auto& h = list_budget_->holding(); h && !h->may_send()) {
      co_await sleep_for(timer_, 1s);
      continue;
    }
    Listing l = co_await list();
    if (stopped_) break;
    if (l.ok) {
      ++listings_;
      last_listing_unix_ = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
      backoff = 5s;
      log::info(events::discovery_listed, "groups discovered",
                {{"app", app_.name},
                 {"listed", static_cast<std::uint64_t>(l.listed)},
                 {"kept", static_cast<std::uint64_t>(l.kept.size())},
                 {"pages", static_cast<std::uint64_t>(l.pages)},
                 {"took", format_duration(l.took)}});
      last_ = std::move(l);
      if (on_listing_) on_listing_(*last_);
      co_await sleep_for(timer_, discover_.every);
    } else {
      ++failures_;
      log::warn(events::discovery_failed, "group listing failed; the watched groups stay as they were",
                {{"app", app_.name}, {"error", l.error}, {"retry_in", format_duration(backoff)}});
      co_await sleep_for(timer_, backoff);
      backoff = std::min(backoff * 2, discover_.every);
    }
  }
}

}  // namespace groupwatch::app
