#pragma once
// The sink interface and the registry keyed by the config `type:`.
// A sink is a folder under src/sinks/<type>/ holding its settings parser and
// its runtime object, plus one GW_REGISTER_SINK line. The engine never
// names a sink type.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "groupwatch/config/config.hpp"
#include "groupwatch/config/reader.hpp"
#include "groupwatch/delivery/result.hpp"

namespace groupwatch::delivery {

/// The runtime object. `write` runs on the sink's own worker thread, never on
/// the polling thread, so it may block. It throws std::exception on failure;
/// the delivery layer retries with backoff and spools meanwhile.
class Sink {
 public:
  virtual ~Sink() = default;
  /// Called once on the worker thread before the first write; throws on failure
  /// (the delivery layer retries it like a write).
  virtual void open() {}
  /// Delivers the batch durably (as durable as the sink can be) or throws.
  virtual void write(std::span<const Result> batch) = 0;
  /// A parked group's series should disappear (prometheus); others ignore.
  virtual void forget(const std::string& /*app*/, const std::string& /*group_id*/) {}
  /// Called from another thread when the shutdown grace is over while
  /// write() may still be running (a locked table, a hung server): make it
  /// return soon, by throwing. Sinks that cannot block for long ignore it.
  virtual void cancel() {}
};

struct SinkContext {
  std::string state_dir;  // for spools and relative paths
  std::string name;       // "<type>" or "<type>#<index>" when a type repeats
};

/// A sink's parsed settings, apart from the runtime object.
class SinkSpec {
 public:
  virtual ~SinkSpec() = default;
  /// One line for `groupwatch check`, e.g. "sqlite /var/lib/groupwatch/groupwatch.db".
  virtual std::string describe() const = 0;
  /// Checks that can only be done on the machine (paths writable, ...).
  /// Throws std::runtime_error with a clear message.
  virtual void preflight(const SinkContext&) const {}
  virtual std::unique_ptr<Sink> create(const SinkContext& ctx) const = 0;
};

/// A spec that holds its sink's parsed settings.
template <class Settings>
class SpecOf : public SinkSpec {
 public:
  explicit SpecOf(Settings s) : s_(std::move(s)) {}

 protected:
  Settings s_;
};

/// What every sink's parser does around reading its keys: `read` fills the
/// settings and reports each bad key at its line; the spec made of them, or
/// nullptr when `read` reported an error.
template <class Spec, class Settings, class Read>
std::unique_ptr<SinkSpec> make_spec(config::MapReader& r, Read read) {
  Settings s;
  const int errors = r.diags().error_count();
  read(s);
  if (r.diags().error_count() != errors) return nullptr;
  return std::make_unique<Spec>(std::move(s));
}

/// For a sink that writes a file: throws "TYPE: cannot create 'PATH': ..."
/// unless PATH is no directory and its nearest existing ancestor is a
/// writable directory (where the file, and sqlite's -wal and -shm, go).
void check_creatable(std::string_view type, const std::string& path);

/// Settings common to every sink (read by the delivery layer).
struct DeliveryOptions {
  std::size_t batch_size = 500;
  std::chrono::milliseconds flush_interval = std::chrono::seconds(1);
  std::size_t queue_size = 10000;                // results held in memory
  std::uint64_t spool_max_bytes = 256ull << 20;  // per sink
  bool drop_oldest = true;                       // when_full: drop_oldest | drop_newest
  std::chrono::milliseconds retry_min = std::chrono::milliseconds(200);
  std::chrono::milliseconds retry_max = std::chrono::seconds(30);
};

/// One line of `groupwatch help sink TYPE`: a key the parser reads, what it
/// means and its default.
struct KeyHelp {
  std::string_view key;
  std::string_view text;
};

struct SinkFactory {
  std::string_view type;
  std::string_view summary;  // one line for `groupwatch help sinks`
  /// Reads the sink's own keys from `r` (`type` and the delivery keys are
  /// already consumed). Returns nullptr when errors were recorded.
  std::function<std::unique_ptr<SinkSpec>(config::MapReader& r)> parse;
  /// What each of the parser's keys means (`help sink TYPE`; a test checks
  /// that it names exactly the keys the parser reads).
  std::vector<KeyHelp> keys;
};

void register_sink(SinkFactory f);
const SinkFactory* find_sink(std::string_view type);
std::vector<std::string_view> sink_types();  // sorted

struct Registrar {
  explicit Registrar(SinkFactory f) { register_sink(std::move(f)); }
};
/// In src/sinks/TYPE/, after its namespace: registers the sink `TYPE`, whose
/// parser is groupwatch::sinks::TYPE::parse, with its one-line summary and
/// the help of its keys ({{"key", "text"}, ...}).
#define GW_REGISTER_SINK(type, summary, ...)                               \
  static const ::groupwatch::delivery::Registrar gw_sink_registrar_##type( \
      ::groupwatch::delivery::SinkFactory{#type, summary, &::groupwatch::sinks::type::parse, __VA_ARGS__})

/// The keys a sink entry of `type` accepts, found by running its parser on
/// an empty mapping (so the list cannot drift from the parser): `type`, the
/// delivery keys every sink shares, then the sink's own. Empty for an unknown
/// type.
struct SinkKeys {
  std::vector<std::string> delivery;
  std::vector<std::string> own;
};
SinkKeys sink_keys(std::string_view type);
/// The delivery keys' help (batch_size, queue_size, ...), with defaults.
std::vector<std::pair<std::string, std::string>> delivery_key_help();

/// A fully parsed sink entry from the config.
struct ParsedSink {
  std::string type;
  std::string name;
  std::string fingerprint;  // the entry as written: equal means unchanged on reload
  DeliveryOptions delivery;
  std::unique_ptr<SinkSpec> spec;
};
/// Parses every `sinks:` entry through the registry; an unknown type is an
/// error listing the known ones.
std::vector<ParsedSink> parse_sinks(const std::vector<config::SinkConfig>& sinks, config::Diagnostics& diags,
                                    const config::EnvLookup& env = config::process_env());

}  // namespace groupwatch::delivery
