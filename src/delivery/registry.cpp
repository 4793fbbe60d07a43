#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>
#include <string>

#include "groupwatch/config/reader.hpp"
#include "groupwatch/delivery/sink.hpp"

namespace groupwatch::delivery {
namespace {

// Function-local so that registrations from other translation units' static
// initialisers never run before the map exists.
std::map<std::string, SinkFactory, std::less<>>& registry() {
  static std::map<std::string, SinkFactory, std::less<>> r;
  return r;
}

std::string known_list() {
  std::string s;
  for (auto t : sink_types()) {
    if (!s.empty()) s += ", ";
    s += t;
  }
  return s;
}

void read_delivery(config::MapReader& r, DeliveryOptions& d) {
  std::int64_t n = 0;
  if (r.integer("batch_size", n, 1, 1'000'000)) d.batch_size = static_cast<std::size_t>(n);
  if (r.duration("flush_interval", d.flush_interval) && d.flush_interval.count() <= 0) {
    r.error_at("flush_interval", "flush_interval must be positive");
  }
  if (r.integer("queue_size", n, 1, 100'000'000)) d.queue_size = static_cast<std::size_t>(n);
  if (r.bytes("spool_max_bytes", d.spool_max_bytes) && d.spool_max_bytes < 4096) {
    r.error_at("spool_max_bytes", "spool_max_bytes must be at least 4KiB");
  }
  std::string when_full;
  if (r.one_of("when_full", when_full, {"drop_oldest", "drop_newest"})) d.drop_oldest = when_full == "drop_oldest";
  bool min_ok = r.duration("retry_min", d.retry_min);
  if (min_ok && d.retry_min.count() <= 0) r.error_at("retry_min", "retry_min must be positive");
  if (r.duration("retry_max", d.retry_max) && d.retry_max < d.retry_min) {
    r.error_at("retry_max", "retry_max must not be less than retry_min");
  }
}

}  // namespace

SinkKeys sink_keys(std::string_view type) {
  SinkKeys out;
  const SinkFactory* f = find_sink(type);
  if (f == nullptr) return out;
  config::Diagnostics diags;
  const auto env = config::process_env();
  const YAML::Node empty(YAML::NodeType::Map);
  config::MapReader delivery(empty, "", diags, env, "sink");
  DeliveryOptions d;
  read_delivery(delivery, d);
  out.delivery = delivery.known();
  config::MapReader own(empty, "", diags, env, "sink");
  (void)f->parse(own);  // errors for the required keys are expected here
  out.own = own.known();
  return out;
}

std::vector<std::pair<std::string, std::string>> delivery_key_help() {
  DeliveryOptions d;
  auto dur = [](std::chrono::milliseconds ms) {
    return ms.count() % 1000 == 0 ? std::to_string(ms.count() / 1000) + "s" : std::to_string(ms.count()) + "ms";
  };
  return {
      {"batch_size", "results per write (default " + std::to_string(d.batch_size) + ")"},
      {"flush_interval", "the oldest queued result waits at most this long (default " + dur(d.flush_interval) + ")"},
      {"queue_size", "results held in memory before spooling (default " + std::to_string(d.queue_size) + ")"},
      {"spool_max_bytes",
       "cap of the on-disk spool under state_dir/spool (default " + std::to_string(d.spool_max_bytes >> 20) + "MiB)"},
      {"when_full", "drop_oldest|drop_newest when the spool is at its cap (default drop_oldest)"},
      {"retry_min", "first retry delay while the sink fails (default " + dur(d.retry_min) + ")"},
      {"retry_max", "longest retry delay (default " + dur(d.retry_max) + ")"},
  };
}

void check_creatable(std::string_view type, const std::string& path) {
  namespace fs = std::filesystem;
  const std::string t(type);
  std::error_code ec;
  if (fs::is_directory(path, ec)) throw std::runtime_error(t + ": '" + path + "' is a directory");
  auto dir = fs::path(path).parent_path();
  while (!dir.empty() && !fs::exists(dir, ec) && dir != dir.parent_path()) dir = dir.parent_path();
  if (dir.empty()) dir = ".";
  if (!fs::is_directory(dir, ec)) {
    throw std::runtime_error(t + ": cannot create '" + path + "': '" + dir.string() + "' is not a directory");
  }
  if (::access(dir.c_str(), W_OK | X_OK) != 0) {
    throw std::runtime_error(t + ": directory '" + dir.string() + "' is not writable: " + std::strerror(errno));
  }
}

void register_sink(SinkFactory f) {
  auto& r = registry();
  std::string key(f.type);
  if (r.count(key) != 0) throw std::logic_error("sink type registered twice: " + key);
  r.emplace(std::move(key), std::move(f));
}

const SinkFactory* find_sink(std::string_view type) {
  auto& r = registry();
  auto it = r.find(type);
  return it == r.end() ? nullptr : &it->second;
}

std::vector<std::string_view> sink_types() {
  std::vector<std::string_view> out;
  for (auto& [name, f] : registry()) out.push_back(f.type);
  return out;  // std::map keeps them sorted
}

std::vector<ParsedSink> parse_sinks(const std::vector<config::SinkConfig>& sinks, config::Diagnostics& diags,
                                    const config::EnvLookup& env) {
  auto type_of = [](const config::SinkConfig& s) {
    if (!s.type.empty()) return s.type;
    auto t = s.node.IsMap() ? s.node["type"] : YAML::Node();
    return t && t.IsScalar() ? t.Scalar() : std::string();
  };
  std::map<std::string, int> per_type;
  for (auto& s : sinks) per_type[type_of(s)]++;
  std::map<std::string, int> seen;

  // Entries with errors are left out; callers look at diags.has_errors().
  std::vector<ParsedSink> out;
  for (auto& s : sinks) {
    config::MapReader r(s.node, s.file, diags, env, "sink");
    std::string type;
    if (!r.string("type", type, true)) continue;  // other keys mean nothing without a type
    const SinkFactory* f = find_sink(type);
    if (f == nullptr) {
      r.error_at("type", "unknown sink type '" + type + "' (known: " + known_list() + ")");
      continue;  // its other keys mean nothing without a type
    }
    ParsedSink p;
    p.type = type;
    int index = ++seen[type];
    p.name = per_type[type] > 1 ? type + "#" + std::to_string(index) : type;
    p.fingerprint = YAML::Dump(s.node);
    int before = diags.error_count();
    read_delivery(r, p.delivery);
    p.spec = f->parse(r);
    r.finish();
    if (!p.spec || diags.error_count() != before) {
      continue;
    }
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace groupwatch::delivery
