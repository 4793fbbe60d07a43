#pragma once
// The long-running commands, each in its own file; cli.cpp parses arguments.
#include <optional>
#include <string>
#include <vector>

#include "groupwatch/config/config.hpp"
#include "groupwatch/delivery/sink.hpp"

namespace groupwatch::app {

/// Loads the config and prints every diagnostic, errors first; on errors ends
/// with "PATH: N error(s); <verdict>" and returns nullopt (exit 2).
std::optional<config::Config> load_or_report(const std::string& path, std::vector<delivery::ParsedSink>* sinks,
                                             bool print_warnings, std::string_view verdict = "nothing started");
const config::AppConfig* pick_app(const config::Config& cfg, const std::string& name);
void configure_logging(const config::Config& cfg);

int cmd_run(const std::string& config_path);
int cmd_once(const std::string& config_path, bool quiet);
int cmd_query(const std::string& config_path, const std::string& app, const std::vector<std::string>& groups,
              bool verbose);
/// `discover`: prints what discovery keeps now (APP, ID, TYPE, NAME a line,
/// then a count per type) for every app with discover:, or for --app NAME.
int cmd_discover(const std::string& config_path, const std::string& app);
int cmd_help_config();
/// `help sink TYPE` (every key the type's parser reads); empty: the types.
int cmd_help_sink(const std::string& type);

}  // namespace groupwatch::app
