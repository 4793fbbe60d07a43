#pragma once
// Strict, diagnostic-collecting reading of one YAML mapping. Used by the
// config loader and by every sink's own settings parser. Each getter records
// the key as known; finish() reports the keys nobody asked for. Values have
// ${NAME} / ${NAME:-default} interpolated from the environment first.
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "groupwatch/config/diagnostics.hpp"

namespace groupwatch::config {

/// Returns the variable's value or nullopt when unset.
using EnvLookup = std::function<std::optional<std::string>(const std::string&)>;
EnvLookup process_env();

/// Replaces ${NAME} and ${NAME:-default}. On an unset NAME without default
/// returns nullopt and sets `error` to a message naming NAME (never the value).
std::optional<std::string> interpolate(std::string_view text, const EnvLookup& env, std::string* error);

Mark mark_of(const YAML::Node& node);

/// Damerau-Levenshtein distance (optimal string alignment): insertions,
/// deletions, substitutions and swaps of two neighbours each cost 1.
std::size_t edit_distance(std::string_view a, std::string_view b);

class MapReader {
 public:
  /// `node` must be a mapping; otherwise an error is recorded and every getter
  /// returns false. `secret` getters never echo values in messages.
  MapReader(const YAML::Node& node, std::string file, Diagnostics& diags, const EnvLookup& env, std::string context);

  bool has(std::string_view key) const;
  Mark mark(std::string_view key) const;  // of the value, or of the map
  const std::string& file() const { return file_; }
  Diagnostics& diags() { return diags_; }
  const EnvLookup& env() const { return env_; }

  // Each returns true when the key was present and valid (out is assigned);
  // false when absent (out untouched; an error when `required`) or invalid
  // (an error recorded).
  bool string(std::string_view key, std::string& out, bool required = false);
  bool secret(std::string_view key, std::string& out, bool required = false);
  bool integer(std::string_view key, std::int64_t& out, std::int64_t min, std::int64_t max, bool required = false);
  bool uinteger(std::string_view key, std::uint64_t& out, bool required = false);
  bool number(std::string_view key, double& out, double min_exclusive, bool required = false);
  bool boolean(std::string_view key, bool& out, bool required = false);
  bool duration(std::string_view key, std::chrono::milliseconds& out, bool required = false);
  bool one_of(std::string_view key, std::string& out, const std::vector<std::string_view>& allowed,
              bool required = false);
  /// A size like 64MiB, 10MB, 4096 (bytes).
  bool bytes(std::string_view key, std::uint64_t& out, bool required = false);
  /// The raw node (marked as known), for nested structures.
  YAML::Node node(std::string_view key);
  /// The list under `key` (marked as known), or nullopt: when `key` is absent
  /// or null, and when it is not a list, which is an error saying
  /// `not_a_list`. `absent`, when given, tells the first case apart.
  std::optional<YAML::Node> list(std::string_view key, std::string not_a_list, bool* absent = nullptr);

  /// The value as written in the file (before interpolation, shortened,
  /// control characters replaced), for "got '...'" in messages: an
  /// interpolated value may be a secret and never shows.
  std::string raw(std::string_view key) const;

  void error_at(std::string_view key, std::string message);
  void warning_at(std::string_view key, std::string message);

  /// Reports every key that no getter asked for as "unknown key 'k' in
  /// <context>", with the closest known key or else the list of valid ones.
  void finish();

  /// Every key asked for so far (by a getter or has()), in order, once each:
  /// the keys this mapping accepts once its parser has run.
  std::vector<std::string> known() const;

 private:
  std::optional<std::string> scalar(std::string_view key, bool required, bool secret);
  YAML::Node node_;
  std::string file_;
  Diagnostics& diags_;
  const EnvLookup& env_;
  std::string context_;
  std::string valid_keys() const;
  mutable std::vector<std::string> known_;
  bool valid_ = true;
};

}  // namespace groupwatch::config
