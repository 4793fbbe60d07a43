#pragma once
// Helpers for the deployment tests: run a shell command, read and write files,
// and pick metric names out of PromQL (directories: support/harness.hpp).

#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "support/harness.hpp"

namespace groupwatch::deploy_test {

using gw_test::RunResult;
using gw_test::TempDir;

/// Runs `command` through /bin/sh with stderr folded into stdout (`out`).
RunResult run(const std::string& command);

/// True when `program` is found on PATH.
bool have_program(const std::string& program);

/// Single-quotes `s` for /bin/sh.
std::string shell_quote(const std::string& s);

/// The whole file; throws when it cannot be read.
std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::string& text);

/// A systemd unit file: section -> key -> every value given for the key, in order.
using UnitFile = std::map<std::string, std::map<std::string, std::vector<std::string>>>;
UnitFile parse_unit(const std::string& text);

/// The metric names a PromQL expression selects (not functions, labels, keywords or
/// Grafana variables). Throws std::invalid_argument on unbalanced brackets or quotes.
std::set<std::string> promql_metric_names(const std::string& expr);

/// The source tree's deploy/ directory.
std::filesystem::path deploy_dir();

/// Starts groupwatch-emulator until it has written its CA certificate to
/// `ca` (as the compose files do), then stops it. The command's output.
RunResult write_emulator_ca(const std::filesystem::path& ca);

}  // namespace groupwatch::deploy_test
