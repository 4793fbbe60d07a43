// `groupwatch discover`: what discovery would watch now, without polling.
#include <iostream>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "app/commands.hpp"
#include "app/control.hpp"
#include "app/discovery.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::app {

namespace {

boost::asio::awaitable<void> list_into(std::shared_ptr<Discoverer> d, Listing* out) {
  *out = co_await d->list();
}

// Beside a running daemon that polls the app's SDKAppID the listing goes
// through the daemon's discovery limiters (the list command allows one call
// a second per SDKAppID, whoever makes it); without one it is made here.
Listing list_app(const config::Config& cfg, const config::AppConfig& a) {
  Listing l;
  if (auto remote = list_via_daemon(cfg.state_dir, budget_key(a))) {
    l.ok = remote->ok;
    l.error = remote->error;
    l.listed = remote->groups.size();
    for (auto& g : remote->groups) {
      if (!a.discover->keeps(g.type, g.id, g.name)) continue;
      auto meta = g.name.empty() ? nullptr : std::make_shared<config::GroupMeta>(config::GroupMeta{g.name, {}});
      ++l.kept_by_type[g.type];
      l.kept.push_back({std::move(g.id), std::move(g.type), std::move(meta)});
    }
    return l;
  }
  boost::asio::io_context io(1);
  auto budgets = make_discovery_budgets(io, a, cfg.poll);
  auto d = std::make_shared<Discoverer>(io, a, budgets);
  boost::asio::co_spawn(io, list_into(d, &l), [&](std::exception_ptr e) {
    if (e) l.error = "internal error";
    d->stop();
    budgets.list->pool()->shutdown();
    budgets.info->pool()->shutdown();
  });
  io.run();
  return l;
}

}  // namespace

int cmd_discover(const std::string& config_path, const std::string& app_name) {
  auto cfg = load_or_report(config_path, nullptr, false);
  if (!cfg) return 2;
  configure_logging(*cfg);
  log::configure(log::Level::error, log::parse_format(cfg->log.format).value_or(log::Format::logfmt));
  std::vector<config::AppConfig> apps;
  if (!app_name.empty()) {
    const auto* app = pick_app(*cfg, app_name);
    if (!app) {
      std::cerr << fmt::format("{}: no app named '{}'\n", config_path, app_name);
      return 2;
    }
    apps.push_back(*app);
    // An app without discover: previews the defaults (Community, all).
    if (!apps.back().discover) apps.back().discover = config::DiscoverConfig{};
  } else {
    for (const auto& a : cfg->apps)
      if (a.discover) apps.push_back(a);
    if (apps.empty()) {
      std::cerr << fmt::format("{}: no app has 'discover:'; name one with --app NAME to preview the defaults\n",
                               config_path);
      return 2;
    }
  }
  int status = 0;
  for (const auto& a : apps) {
    Listing l = list_app(*cfg, a);
    if (!l.ok) {
      std::cerr << fmt::format("groupwatch discover: app '{}': {}\n", a.name, l.error);
      status = 1;
      continue;
    }
    for (const auto& f : l.kept)
      std::cout << fmt::format("{}\t{}\t{}\t{}\n", a.name, f.id, f.type, config::group_name(f.meta));
    std::cout << fmt::format("# {}: {} of {} listed groups kept", a.name, l.kept.size(), l.listed);
    for (const auto& [type, n] : l.kept_by_type) std::cout << fmt::format(", {} {}", n, type);
    if (l.pages == 0) {
      std::cout << " (listed through the running daemon)\n";
    } else {
      std::cout << fmt::format(" ({} list calls, {})\n", l.pages, format_duration(l.took));
    }
  }
  return status;
}

}  // namespace groupwatch::app
