#pragma once
// What `run` needs from the machine before it starts, checked the same way
// by `check`, by `run` at start and by every reload: so `check` (and with it
// `systemctl reload`) fails exactly where `run` would.
#include <string>
#include <vector>

#include "groupwatch/config/config.hpp"
#include "groupwatch/delivery/sink.hpp"

namespace groupwatch::app {

/// Every problem found, each a full line ("FILE:LINE:COL: error: ..." where
/// the config names the place). Empty: `run` can start with this config.
/// Touches nothing: a missing state_dir is checked by its nearest existing
/// parent, which `run` would create it in.
std::vector<std::string> preflight(const config::Config& cfg, const std::vector<delivery::ParsedSink>& sinks);

/// Empty when `path` is a readable PEM file with at least one certificate;
/// otherwise why not.
std::string ca_file_problem(const std::string& path);

}  // namespace groupwatch::app
