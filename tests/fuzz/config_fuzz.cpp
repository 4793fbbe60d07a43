// libFuzzer target: the config loader (YAML, env interpolation, validation,
// watchlist files) on arbitrary file content, and interpolate() directly.
// Invariants: a loaded config has no errors; every diagnostic formats with
// its file; an interpolated secret from the environment never shows in a
// diagnostic or an interpolation error.
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>

#include "fuzz_target.hpp"
#include "groupwatch/config/config.hpp"

namespace {

constexpr std::string_view env_secret = "Zq8v-fuzz-env-secret-Xv3k";

std::optional<std::string> fake_env(const std::string& name) {
  static const std::map<std::string, std::string, std::less<>> vars = {
      {"GW_KEY", std::string(env_secret)},
      {"GW_PORT", "18443"},
      {"GW_NAME", "demo"},
      {"GW_EMPTY", ""},
      {"GW_QPS", "150"},
      {"GW_INTERVAL", "30s"},
      {"GW_GROUPS", "groups.txt"},
      {"GW_BOOL", "false"},
      {"GW_DIR", "/nonexistent/state"},
  };
  const auto it = vars.find(name);
  if (it == vars.end()) return std::nullopt;
  return it->second;
}

/// A private directory holding the config file and the files it may name
/// (groups.txt, groups.yaml, key), created once per process.
const std::string& work_dir() {
  struct Dir {
    std::string path;
    Dir() {
      char tmpl[] = "/tmp/gw-fuzz-config-XXXXXX";
      const char* d = ::mkdtemp(tmpl);
      if (d == nullptr) std::abort();
      path = d;
      std::ofstream(path + "/groups.txt") << "# watchlist\n@TGS#_@TGS#AAAAAAAAAAAA\n\n@TGS#_@TGS#BBBBBBBBBBBB\n";
      std::ofstream(path + "/groups.yaml") << "- \"@TGS#_@TGS#CCCCCCCCCCCC\"\n- \"@TGS#_@TGS#AAAAAAAAAAAA\"\n";
      std::ofstream(path + "/key") << "file-secret-key-0123456789\n";
      std::filesystem::permissions(path + "/key",
                                   std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

bool contains(std::string_view hay, std::string_view needle) {
  return hay.find(needle) != std::string_view::npos;
}

/// True when every line naming GW_KEY is a `secret_key:` line: names and
/// other labels are shown in messages by design, so a secret put there may
/// show too.
bool key_only_in_secrets(std::string_view text) {
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    if (!contains(line, "GW_KEY")) continue;
    while (!line.empty() && (line.front() == ' ' || line.front() == '-')) line.remove_prefix(1);
    if (!line.starts_with("secret_key:") || std::count(line.begin(), line.end(), '$') != 1) return false;
  }
  return true;
}

}  // namespace

GW_FUZZ_TARGET(config) {
  using namespace groupwatch::config;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  // Names under /dev, /proc and /sys can block or never end (a FIFO, /dev/zero):
  // not what this target looks for.
  if (contains(text, "/dev") || contains(text, "/proc") || contains(text, "/sys")) return 0;
  // Only when the secret can only be a secret_key does it have to stay hidden.
  const bool literal_secret = contains(text, env_secret) || !key_only_in_secrets(text);

  std::string why;
  const auto out = interpolate(text, fake_env, &why);
  if (!out) {
    GW_FUZZ_CHECK(!why.empty());
    GW_FUZZ_CHECK(literal_secret || !contains(why, env_secret));
  } else if (!contains(text, "${")) {
    GW_FUZZ_CHECK(*out == text);
  }

  const std::string path = work_dir() + "/groupwatch.yaml";
  {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  const LoadResult r = load_config(path, fake_env);
  GW_FUZZ_CHECK(r.config.has_value() == !r.diagnostics.has_errors());
  for (const Diagnostic& d : r.diagnostics.all()) {
    const std::string line = d.format();
    GW_FUZZ_CHECK(!d.message.empty());
    GW_FUZZ_CHECK(line.starts_with(d.file));
    GW_FUZZ_CHECK(literal_secret || !contains(line, env_secret));
  }
  if (r.config) {
    GW_FUZZ_CHECK(!r.config->apps.empty());
    (void)format_summary(*r.config);
    (void)r.config->total_groups();
  }
  return 0;
}
