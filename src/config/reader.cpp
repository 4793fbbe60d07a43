#include "groupwatch/config/reader.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string_view>

#include <fmt/format.h>

#include "groupwatch/util/text.hpp"

namespace groupwatch::config {
namespace {

bool is_name_start(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool is_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// The text as written in the file (before interpolation), shortened and made
// printable, for "got '...'" in messages. Never used for secrets.
std::string shown(std::string_view raw) {
  std::string out;
  for (char c : raw.substr(0, 60)) {
    const auto u = static_cast<unsigned char>(c);
    out += (u < 0x20 || u == 0x7f) ? '?' : c;
  }
  if (raw.size() > 60) out += "...";
  return out;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

// Optimal string alignment (Damerau-Levenshtein without repeated edits of a
// substring): a swapped pair of letters ("flie", "regoin") costs 1.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  const std::size_t w = b.size() + 1;
  std::vector<std::size_t> d((a.size() + 1) * w);
  for (std::size_t i = 0; i <= a.size(); ++i) d[i * w] = i;
  for (std::size_t j = 0; j <= b.size(); ++j) d[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      auto& x = d[i * w + j];
      x = std::min({d[(i - 1) * w + j] + 1, d[i * w + j - 1] + 1, d[(i - 1) * w + j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) x = std::min(x, d[(i - 2) * w + j - 2] + 1);
    }
  }
  return d[a.size() * w + b.size()];
}

namespace {}  // namespace

EnvLookup process_env() {
  return [](const std::string& name) -> std::optional<std::string> {
    const char* v = std::getenv(name.c_str());
    if (v == nullptr) return std::nullopt;
    return std::string(v);
  };
}

std::optional<std::string> interpolate(std::string_view text, const EnvLookup& env, std::string* error) {
  if (text.find("${") == std::string_view::npos) return std::string(text);
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = text.find("${", i);
    if (start == std::string_view::npos) {
      out.append(text.substr(i));
      break;
    }
    out.append(text.substr(i, start - i));
    const std::size_t close = text.find('}', start + 2);
    if (close == std::string_view::npos) {
      if (error) *error = "unterminated '${' (write ${NAME} or ${NAME:-default})";
      return std::nullopt;
    }
    const std::string_view inner = text.substr(start + 2, close - start - 2);
    std::string_view name = inner;
    std::optional<std::string_view> fallback;
    if (const auto sep = inner.find(":-"); sep != std::string_view::npos) {
      name = inner.substr(0, sep);
      fallback = inner.substr(sep + 2);
    }
    if (name.empty() || !is_name_start(name[0]) || !std::all_of(name.begin(), name.end(), is_name_char)) {
      if (error) *error = fmt::format("invalid variable reference '${{{}}}'", shown(inner));
      return std::nullopt;
    }
    const std::string key(name);
    auto value = env ? env(key) : std::nullopt;
    if (fallback && (!value || value->empty())) {
      out.append(*fallback);
    } else if (value) {
      out.append(*value);
    } else {
      if (error)
        *error = fmt::format("environment variable {} is not set (use ${{{}:-default}} for a default)", key, key);
      return std::nullopt;
    }
    i = close + 1;
  }
  return out;
}

Mark mark_of(const YAML::Node& node) {
  if (!node.IsDefined()) return {};
  const YAML::Mark m = node.Mark();
  if (m.is_null()) return {};
  return Mark{m.line + 1, m.column + 1};
}

MapReader::MapReader(const YAML::Node& node, std::string file, Diagnostics& diags, const EnvLookup& env,
                     std::string context)
    : node_(node), file_(std::move(file)), diags_(diags), env_(env), context_(std::move(context)) {
  if (!node_.IsDefined() || node_.IsNull()) {
    valid_ = false;  // absent or empty: no keys, no error (required getters still complain)
    return;
  }
  if (!node_.IsMap()) {
    diags_.error(file_, mark_of(node_), fmt::format("{} must be a mapping", context_));
    valid_ = false;
    return;
  }
  std::vector<std::string> seen;
  for (const auto& kv : node_) {
    if (!kv.first.IsScalar()) {
      diags_.error(file_, mark_of(kv.first), fmt::format("keys in {} must be plain strings", context_));
      continue;
    }
    const std::string& k = kv.first.Scalar();
    if (std::find(seen.begin(), seen.end(), k) != seen.end()) {
      diags_.error(file_, mark_of(kv.first), fmt::format("duplicate key '{}' in {}", shown(k), context_));
    } else {
      seen.push_back(k);
    }
  }
}

namespace {
// The first entry with this key (duplicates are reported by the constructor).
bool find_entry(const YAML::Node& map, std::string_view key, YAML::Node& key_node, YAML::Node& value) {
  for (const auto& kv : map) {
    if (kv.first.IsScalar() && kv.first.Scalar() == key) {
      key_node = kv.first;
      value = kv.second;
      return true;
    }
  }
  return false;
}
}  // namespace

bool MapReader::has(std::string_view key) const {
  // Asking is knowing: a key looked up only by has() is valid too, and a
  // misspelling of it gets "did you mean".
  if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
  if (!valid_) return false;
  YAML::Node k, v;
  return find_entry(node_, key, k, v);
}

Mark MapReader::mark(std::string_view key) const {
  if (valid_) {
    YAML::Node k, v;
    if (find_entry(node_, key, k, v)) {
      const Mark m = mark_of(v);
      return (m.line > 0 && !v.IsNull()) ? m : mark_of(k);
    }
  }
  return mark_of(node_);
}

std::optional<std::string> MapReader::scalar(std::string_view key, bool required, bool secret) {
  known_.emplace_back(key);
  YAML::Node k, v;
  if (!valid_ || !find_entry(node_, key, k, v)) {
    if (required) diags_.error(file_, mark_of(node_), fmt::format("missing required key '{}' in {}", key, context_));
    return std::nullopt;
  }
  if (v.IsNull()) {
    diags_.error(file_, mark_of(k), fmt::format("'{}' has no value", key));
    return std::nullopt;
  }
  if (!v.IsScalar()) {
    diags_.error(file_, mark_of(v),
                 fmt::format("'{}' must be a single value, not a {}", key, v.IsSequence() ? "list" : "mapping"));
    return std::nullopt;
  }
  std::string why;
  auto value = interpolate(v.Scalar(), env_, &why);
  if (!value) {
    // `why` names the variable or shows the reference as written, never a value.
    diags_.error(file_, mark_of(v), fmt::format("'{}': {}", key, why));
    return std::nullopt;
  }
  (void)secret;  // nothing below echoes a value; kept explicit for readers
  return value;
}

bool MapReader::string(std::string_view key, std::string& out, bool required) {
  auto v = scalar(key, required, false);
  if (!v) return false;
  out = std::move(*v);
  return true;
}

bool MapReader::secret(std::string_view key, std::string& out, bool required) {
  auto v = scalar(key, required, true);
  if (!v) return false;
  out = std::move(*v);
  return true;
}

namespace {
// The raw scalar, for messages (as written, so an interpolated value never shows).
std::string raw_of(const YAML::Node& map, std::string_view key) {
  YAML::Node k, v;
  if (find_entry(map, key, k, v) && v.IsScalar()) return shown(v.Scalar());
  return {};
}
}  // namespace

bool MapReader::integer(std::string_view key, std::int64_t& out, std::int64_t min, std::int64_t max, bool required) {
  auto v = scalar(key, required, false);
  if (!v) return false;
  bool out_of_range = false;
  const auto n = parse_number<std::int64_t>(*v, &out_of_range);
  if (!n) {
    if (out_of_range) {
      error_at(key, fmt::format("'{}' must be between {} and {}, got '{}'", key, min, max, raw_of(node_, key)));
    } else {
      error_at(key, fmt::format("'{}' must be an integer, got '{}'", key, raw_of(node_, key)));
    }
    return false;
  }
  if (*n < min || *n > max) {
    error_at(key, fmt::format("'{}' must be between {} and {}, got {}", key, min, max, *n));
    return false;
  }
  out = *n;
  return true;
}

bool MapReader::uinteger(std::string_view key, std::uint64_t& out, bool required) {
  auto v = scalar(key, required, false);
  if (!v) return false;
  const auto n = parse_number<std::uint64_t>(*v);
  if (!n) {
    error_at(key, fmt::format("'{}' must be a non-negative integer, got '{}'", key, raw_of(node_, key)));
    return false;
  }
  out = *n;
  return true;
}

bool MapReader::number(std::string_view key, double& out, double min_exclusive, bool required) {
  auto v = scalar(key, required, false);
  if (!v) return false;
  const double d = parse_number<double>(*v).value_or(std::numeric_limits<double>::quiet_NaN());
  if (!std::isfinite(d)) {
    error_at(key, fmt::format("'{}' must be a number, got '{}'", key, raw_of(node_, key)));
    return false;
  }
  if (!(d > min_exclusive)) {
    if (min_exclusive == 0) {
      error_at(key, fmt::format("'{}' must be a positive number, got {}", key, raw_of(node_, key)));
    } else {
      error_at(key, fmt::format("'{}' must be greater than {}, got {}", key, min_exclusive, raw_of(node_, key)));
    }
    return false;
  }
  out = d;
  return true;
}

bool MapReader::boolean(std::string_view key, bool& out, bool required) {
  auto v = scalar(key, required, false);
  if (!v) return false;
  const std::string s = lower(*v);
  if (s == "true" || s == "yes" || s == "on") {
    out = true;
    return true;
  }
  if (s == "false" || s == "no" || s == "off") {
    out = false;
    return true;
  }
  error_at(key, fmt::format("'{}' must be true or false, got '{}'", key, raw_of(node_, key)));
  return false;
}

bool MapReader::duration(std::string_view key, std::chrono::milliseconds& out, bool required) {
  auto v = scalar(key, required, false);
  if (!v) return false;
  auto d = parse_duration(*v);
  if (!d) {
    error_at(key, fmt::format("'{}' is not a valid duration: '{}' (write e.g. 250ms, 5s, 4m, 1h, 1d)", key,
                              raw_of(node_, key)));
    return false;
  }
  out = *d;
  return true;
}

bool MapReader::one_of(std::string_view key, std::string& out, const std::vector<std::string_view>& allowed,
                       bool required) {
  auto v = scalar(key, required, false);
  if (!v) return false;
  if (std::find(allowed.begin(), allowed.end(), std::string_view(*v)) == allowed.end()) {
    error_at(key, fmt::format("'{}' must be one of {}, got '{}'", key, fmt::join(allowed, "|"), raw_of(node_, key)));
    return false;
  }
  out = std::move(*v);
  return true;
}

bool MapReader::bytes(std::string_view key, std::uint64_t& out, bool required) {
  auto v = scalar(key, required, false);
  if (!v) return false;
  std::uint64_t n = 0;
  const char* begin = v->data();
  const char* end = begin + v->size();
  auto [p, ec] = std::from_chars(begin, end, n);
  bool ok = ec == std::errc() && p != begin;
  std::uint64_t mult = 1;
  if (ok) {
    std::string unit = lower(std::string_view(p, static_cast<std::size_t>(end - p)));
    unit.erase(0, unit.find_first_not_of(' '));
    if (unit.empty() || unit == "b") {
      mult = 1;
    } else if (unit == "k" || unit == "kb") {
      mult = 1000ull;
    } else if (unit == "m" || unit == "mb") {
      mult = 1000ull * 1000;
    } else if (unit == "g" || unit == "gb") {
      mult = 1000ull * 1000 * 1000;
    } else if (unit == "t" || unit == "tb") {
      mult = 1000ull * 1000 * 1000 * 1000;
    } else if (unit == "kib") {
      mult = 1ull << 10;
    } else if (unit == "mib") {
      mult = 1ull << 20;
    } else if (unit == "gib") {
      mult = 1ull << 30;
    } else if (unit == "tib") {
      mult = 1ull << 40;
    } else {
      ok = false;
    }
  }
  if (ok && n > std::numeric_limits<std::uint64_t>::max() / mult) ok = false;
  if (!ok) {
    error_at(key, fmt::format("'{}' must be a size like 4096, 10MB or 64MiB, got '{}'", key, raw_of(node_, key)));
    return false;
  }
  out = n * mult;
  return true;
}

YAML::Node MapReader::node(std::string_view key) {
  known_.emplace_back(key);
  YAML::Node k, v;
  if (valid_ && find_entry(node_, key, k, v)) return v;
  return YAML::Node(YAML::NodeType::Undefined);
}

std::optional<YAML::Node> MapReader::list(std::string_view key, std::string not_a_list, bool* absent) {
  YAML::Node n = node(key);
  const bool missing = !n.IsDefined() || n.IsNull();
  if (absent) *absent = missing;
  if (missing) return std::nullopt;
  if (n.IsSequence()) return n;
  error_at(key, std::move(not_a_list));
  return std::nullopt;
}

std::string MapReader::raw(std::string_view key) const {
  return valid_ ? raw_of(node_, key) : std::string();
}

void MapReader::error_at(std::string_view key, std::string message) {
  diags_.error(file_, mark(key), std::move(message));
}

void MapReader::warning_at(std::string_view key, std::string message) {
  diags_.warning(file_, mark(key), std::move(message));
}

std::vector<std::string> MapReader::known() const {
  std::vector<std::string> out;
  for (const auto& k : known_)
    if (std::find(out.begin(), out.end(), k) == out.end()) out.push_back(k);
  return out;
}

std::string MapReader::valid_keys() const {
  std::string out;
  for (const auto& k : known()) out += (out.empty() ? "" : ", ") + k;
  return out;
}

void MapReader::finish() {
  if (!valid_) return;
  for (const auto& kv : node_) {
    if (!kv.first.IsScalar()) continue;
    const std::string& k = kv.first.Scalar();
    if (std::find(known_.begin(), known_.end(), k) != known_.end()) continue;
    std::string msg = fmt::format("unknown key '{}' in {}", shown(k), context_);
    std::string best;
    std::size_t best_d = 3;
    for (const auto& cand : known_) {
      const auto d = edit_distance(lower(k), lower(cand));
      if (d < best_d) {
        best_d = d;
        best = cand;
      }
    }
    if (!best.empty()) {
      msg += fmt::format(" (did you mean '{}'?)", best);
    } else {
      msg += "; valid keys: " + valid_keys();
    }
    diags_.error(file_, mark_of(kv.first), std::move(msg));
  }
}

}  // namespace groupwatch::config
