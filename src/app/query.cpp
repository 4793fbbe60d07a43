// `groupwatch query`: the given groups, once, through the same poller as
// `once` (limiter, retries, pool), printed one line each in the order given.
#include <iostream>
#include <map>

#include <fmt/format.h>
#include <boost/asio/io_context.hpp>

#include "app/budget.hpp"
#include "app/commands.hpp"
#include "app/control.hpp"
#include "app/poller.hpp"
#include "groupwatch/tencent/errors.hpp"
#include "groupwatch/util/log.hpp"

namespace groupwatch::app {

namespace {
class Recorder : public ResultOut {
 public:
  void push(delivery::Result&& r) override { results[r.group_id] = std::move(r); }
  std::map<std::string, delivery::Result> results;
};
}  // namespace

int cmd_query(const std::string& config_path, const std::string& app_name, const std::vector<std::string>& groups,
              bool verbose) {
  auto cfg = load_or_report(config_path, nullptr, false);
  if (!cfg) return 2;
  configure_logging(*cfg);
  // A one-off query prints each group's outcome, cause included, on its
  // line; the poller's own log lines (app.started, parked, ...) mean
  // nothing here unless asked for.
  if (!verbose) log::configure(log::Level::error, log::parse_format(cfg->log.format).value_or(log::Format::logfmt));
  const auto* app = pick_app(*cfg, app_name);
  if (!app) {
    std::cerr << fmt::format("{}: no app named '{}'\n", config_path, app_name);
    return 2;
  }
  config::AppConfig a = *app;
  a.groups = groups;
  Recorder rec;
  // Beside a running daemon for this SDKAppID the requests go through it,
  // inside its budget; without one they are sent from here.
  if (auto remote = ask_daemon(cfg->state_dir, budget_key(a), groups)) {
    for (auto& r : *remote) rec.push(std::move(r));
  } else if (cfg->cluster) {
    // Sent from here it would be a second sender for the SDKAppID.
    std::cerr << fmt::format(
        "groupwatch: app '{}' (SDKAppID {}): with cluster:, query goes through this host's running instance, and "
        "none here polls that SDKAppID now; run it where the SDKAppID is held (/api/status, cluster.holds)\n",
        a.name, a.sdkappid);
    return 1;
  } else {
    boost::asio::io_context io(1);
    auto budget = std::make_shared<Budget>(io, a.qps, pool_options(a, cfg->poll));
    auto poller = std::make_shared<Poller>(io, a, cfg->poll, Mode::once, rec, budget);
    poller->on_finished([&] { io.stop(); });
    poller->start();
    io.run();
  }
  bool all_ok = true;
  for (const auto& g : groups) {
    auto it = rec.results.find(g);
    if (it == rec.results.end()) {
      std::cout << fmt::format("{}\tno answer\n", g);
      all_ok = false;
      continue;
    }
    const auto& r = it->second;
    if (r.error_code == 0 && r.online_member_num) {
      std::cout << fmt::format("{}\t{}\n", g, *r.online_member_num);
    } else {
      all_ok = false;
      auto meaning = r.error_code == tencent::network_error_code ? std::string_view("no answer")
                                                                 : tencent::classify(r.error_code).meaning;
      std::cout << fmt::format("{}\terror {}: {}{}{}\n", g, r.error_code, meaning, r.error_info.empty() ? "" : ": ",
                               r.error_info);
    }
  }
  return all_ok ? 0 : 1;
}

}  // namespace groupwatch::app
