#pragma once
// Shared by the config tests: a scratch directory, a fake environment and
// short ways to look at diagnostics.
#include <stdlib.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "groupwatch/config/config.hpp"
#include "support/harness.hpp"

namespace groupwatch::config::test {

inline EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

class ScratchDir : public ::testing::Test {
 protected:
  /// Writes `text` to dir_/name (creating folders) and returns the full path.
  std::string write(const std::string& name, const std::string& text, mode_t mode = 0600) {
    const auto p = tmp_.path() / name;
    std::filesystem::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << text;
    ::chmod(p.c_str(), mode);
    return p.string();
  }
  gw_test::TempDir tmp_{"gw-config-test"};
  std::string dir_ = tmp_.path().string();
};

/// Loads a config written to gw.yaml in a scratch directory.
class Load : public ScratchDir {
 protected:
  LoadResult load(const std::string& yaml, std::map<std::string, std::string> env = {}) {
    path_ = write("gw.yaml", yaml);
    return load_config(path_, env_of(std::move(env)));
  }
  /// The diagnostic prefix for a position in gw.yaml.
  std::string at(int line, int col) { return path_ + ":" + std::to_string(line) + ":" + std::to_string(col) + ": "; }
  std::string err_at(int line, int col) { return at(line, col) + "error: "; }
  std::string path_;
};

inline std::vector<std::string> formatted(const Diagnostics& d, bool warnings) {
  std::vector<std::string> out;
  for (const auto& x : d.all()) {
    if (x.warning == warnings) out.push_back(x.format());
  }
  return out;
}
inline std::vector<std::string> errors(const LoadResult& r) {
  return formatted(r.diagnostics, false);
}
inline std::vector<std::string> warnings(const LoadResult& r) {
  return formatted(r.diagnostics, true);
}

inline std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += x + "\n";
  return s;
}

/// A minimal valid app for building configs in tests.
inline constexpr const char* kApp =
    "apps:\n"
    "  - name: a\n"
    "    sdkappid: 1400000001\n"
    "    admin: administrator\n"
    "    secret_key: k\n"
    "    endpoint: https://127.0.0.1:18443\n"
    "    groups: [\"@TGS#_@TGS#AAAAAAAAAAAA\"]\n";

}  // namespace groupwatch::config::test

namespace groupwatch::config {

// The short names the config tests use.
using test::env_of;
using test::errors;
using test::joined;
using test::kApp;
using test::warnings;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

}  // namespace groupwatch::config
