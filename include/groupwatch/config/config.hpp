#pragma once
// The config of interface.md as plain structs with defaults, and the one
// function that loads it strictly.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <yaml-cpp/yaml.h>

#include "groupwatch/config/diagnostics.hpp"
#include "groupwatch/config/group_meta.hpp"
#include "groupwatch/config/reader.hpp"

namespace groupwatch::config {

using std::chrono::milliseconds;

/// `discover:` of an app: list the app's groups instead of (or besides)
/// naming them.
struct DiscoverConfig {
  milliseconds every = std::chrono::hours(1);
  std::vector<std::string> types = {"Community"};  // get_group_info's Type values
  std::vector<std::string> include = {"*"};        // globs on the ID or the name
  std::vector<std::string> exclude;
  bool operator==(const DiscoverConfig&) const = default;
  /// True when a group of `type` with `id` and `name` is kept.
  bool keeps(std::string_view type, std::string_view id, std::string_view name) const;
};

/// fnmatch-style: '*' any run, '?' one byte, everything else literal.
bool glob_match(std::string_view pattern, std::string_view text);

/// An app's settings without its watchlist: what signing and reaching the
/// vendor need. Kept apart so a copy of them costs no allocation per group.
struct AppSettings {
  std::string name;
  std::uint64_t sdkappid = 0;
  std::string admin;
  std::string secret_key;       // loaded from secret_key or secret_key_file; never printed
  std::string secret_key_file;  // as written, when used
  std::string region;           // empty when endpoint is given
  std::string endpoint;         // the base URL actually used (from region or endpoint)
  bool vendor = false;          // a Tencent host (from region, or a vendor host as endpoint): qps <= 200
  std::string ca_file;          // resolved path, may be empty
  bool tls_verify = true;
  // The HTTP proxy to tunnel through, as http://HOST:PORT: the app's `proxy:`
  // or else HTTPS_PROXY/https_proxy unless NO_PROXY/no_proxy matches the
  // endpoint's host. Empty: direct (also for `proxy: none`).
  std::string proxy;
  double qps = 200;
  milliseconds usersig_ttl = std::chrono::hours(24);
  std::optional<DiscoverConfig> discover;
  Mark mark;  // of the app's mapping
  // Set when `groups` is let go of after the engine took its copy (run):
  // what a reload compares the new watchlist with.
  std::uint64_t groups_digest = 0;
};

struct AppConfig : AppSettings {
  std::vector<std::string> groups;  // inline + group_files, deduplicated, in first-seen order
  // Names and labels of watchlist entries written as {id, name, labels}.
  std::unordered_map<std::string, GroupMetaPtr> group_meta;
};

struct PollConfig {
  milliseconds interval = std::chrono::minutes(4);
  milliseconds timeout = std::chrono::seconds(5);
  // Most connections (= requests in flight) per app. Only as many as the rate
  // needs are opened (rate x latency): 10 at 200 QPS and 50 ms, 100 at 500 ms.
  int connections = 128;
  int retries = 3;
  std::optional<double> max_qps;                  // global cap across apps
  milliseconds recheck = std::chrono::hours(1);   // parked groups are asked again after this
  milliseconds grace = std::chrono::seconds(10);  // shutdown grace period
  bool operator==(const PollConfig&) const = default;
};

struct AdminConfig {
  std::string listen;  // host:port; empty = off
  // /readyz answers 503 once a sink has been failing this long.
  milliseconds sink_failing_after = std::chrono::seconds(30);
  bool operator==(const AdminConfig&) const = default;
};

/// `cluster:`: several instances share the apps through etcd, each
/// SDKAppID polled by exactly one of them.
struct ClusterConfig {
  std::vector<std::string> etcd;  // endpoints, http://HOST:PORT (etcd's v3 JSON gateway)
  std::string prefix = "/groupwatch";
  std::string name;  // this instance (default: the host name)
  milliseconds lease = std::chrono::seconds(10);
  bool operator==(const ClusterConfig&) const = default;
};

struct LogConfig {
  std::string level = "info";     // debug|info|warn|error
  std::string format = "logfmt";  // logfmt|json
  bool operator==(const LogConfig&) const = default;
};

/// A sink's settings stay raw here; the sink registry parses them (config
/// does not know the sink types).
struct SinkConfig {
  std::string type;
  YAML::Node node;   // the whole mapping, including `type`
  std::string file;  // the config file, for diagnostics
  Mark mark;
};

struct Config {
  std::string path;  // the config file as given
  std::vector<AppConfig> apps;
  PollConfig poll;
  AdminConfig admin;
  LogConfig log;
  std::string state_dir = "/var/lib/groupwatch";
  bool strict_permissions = false;
  std::vector<SinkConfig> sinks;
  std::optional<ClusterConfig> cluster;

  std::size_t total_groups() const;
};

struct LoadResult {
  std::optional<Config> config;  // set when there are no errors
  Diagnostics diagnostics;       // errors and warnings, in file order
  /// The raw sink entries, also when there are errors elsewhere, so that the
  /// sink settings can be checked (delivery::parse_sinks) in the same run.
  std::vector<SinkConfig> sinks;
};

/// Loads and validates `path` and every watchlist file it names.
LoadResult load_config(const std::string& path, const EnvLookup& env = process_env());

/// Reads one watchlist file (YAML list of strings, or text: one ID a line,
/// '#' comments, blank lines). Appends IDs with their marks; errors to diags.
struct GroupEntry {
  std::string id;
  std::string file;
  Mark mark;
};
void read_group_file(const std::string& path, std::vector<GroupEntry>& out, Diagnostics& diags);

/// Checks one group ID: empty, > 128 bytes, control characters or spaces are
/// errors (returned message); a missing "@TGS#_" prefix is a warning (sets
/// *warning). Returns empty string when valid.
std::string check_group_id(std::string_view id, std::string* warning);

/// The summary `groupwatch check` prints: per app its name, sdkappid,
/// endpoint, qps, group count and cycle load (groups / (qps x interval)) with
/// a warning line above 90% and above 100%; totals; sinks; admin listen.
/// Never contains a secret.
/// Entries with the same key share one request budget (the vendor counts
/// per SDKAppID): "SDKAPPID@ENDPOINT".
std::string budget_key(const AppSettings& app);

/// The apps entries that share one budget, and the budget's cap.
struct SharedBudget {
  std::string key;
  std::vector<const AppConfig*> apps;  // in config order; the first one's connection settings are used
  double qps = 0;                      // the strictest qps among them
  std::size_t groups = 0;              // summed
  bool vendor = false;                 // a vendor endpoint: 200 qps at most
};
/// Every budget `cfg` needs, in the order their first entries appear.
std::vector<SharedBudget> shared_budgets(const Config& cfg);

std::string format_summary(const Config& cfg);

}  // namespace groupwatch::config
