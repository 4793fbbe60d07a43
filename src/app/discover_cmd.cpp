// `groupwatch discover`: what discovery would watch now, without polling.
#include <iostream>

#include <fmt/format.h>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>

#include "app/commands.hpp"
#include "app/discovery.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::app {

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
    boost::asio::io_context io(1);
    auto d = std::make_shared<Discoverer>(io, a, cfg->poll);
    Listing l;
    boost::asio::co_spawn(
        io, [&]() -> boost::asio::awaitable<void> { l = co_await d->list(); },
        [&](std::exception_ptr e) {
          if (e) l.error = "internal error";
          d->stop();
        });
    io.run();
    if (!l.ok) {
      std::cerr << fmt::format("groupwatch discover: app '{}': {}\n", a.name, l.error);
      status = 1;
      continue;
    }
    for (const auto& f : l.kept)
      std::cout << fmt::format("{}\t{}\t{}\t{}\n", a.name, f.id, f.type, config::group_name(f.meta));
    std::cout << fmt::format("# {}: {} of {} listed groups kept", a.name, l.kept.size(), l.listed);
    for (const auto& [type, n] : l.kept_by_type) std::cout << fmt::format(", {} {}", n, type);
    std::cout << fmt::format(" ({} list calls, {})\n", l.pages, format_duration(l.took));
  }
  return status;
}

}  // namespace groupwatch::app
