#include "groupwatch/config/config.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <map>
#include <numeric>

#include <fmt/format.h>

#include "config/groups.hpp"
#include "groupwatch/tencent/request.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::config {
namespace {

namespace fs = std::filesystem;

constexpr double kVendorQps = 200;

/// Relative paths in a config are relative to the config file's directory.
std::string resolve(const std::string& base_dir, const std::string& p) {
  if (p.empty() || p.front() == '/' || base_dir.empty()) return p;
  return (fs::path(base_dir) / p).lexically_normal().string();
}

std::string region_names() {
  std::string out;
  for (const auto& r : tencent::regions()) {
    if (!out.empty()) out += '|';
    out += r.name;
  }
  return out;
}

bool is_vendor_host(std::string_view host) {
  for (const auto& r : tencent::regions()) {
    if (host == r.primary || (!r.backup.empty() && host == r.backup)) return true;
  }
  return false;
}

class Loader {
 public:
  Loader(const std::string& path, const EnvLookup& env, Diagnostics& diags)
      : path_(path), dir_(fs::path(path).parent_path().string()), env_(env), diags_(diags) {}

  std::optional<Config> load();
  std::vector<SinkConfig>& sinks() { return sinks_; }

 private:
  void read_poll(const YAML::Node& n, PollConfig& poll);
  void read_admin(const YAML::Node& n, AdminConfig& admin);
  void read_cluster(const YAML::Node& n, std::optional<ClusterConfig>& cluster);
  void read_log(const YAML::Node& n, LogConfig& log);
  void read_sinks(MapReader& top, std::vector<SinkConfig>& sinks);
  void read_apps(MapReader& top, Config& cfg);
  bool read_app(const YAML::Node& n, std::size_t index, bool strict, AppConfig& app, Mark& name_mark);
  void read_secret(MapReader& r, bool strict, AppConfig& app);
  void read_target(MapReader& r, AppConfig& app);
  void read_proxy(MapReader& r, AppConfig& app);
  void read_groups(MapReader& r, AppConfig& app);
  void read_discover(MapReader& r, AppConfig& app);
  void read_globs(MapReader& r, std::string_view key, std::vector<std::string>& out);

  const std::string& path_;
  std::string dir_;
  const EnvLookup& env_;
  Diagnostics& diags_;
  std::vector<SinkConfig> sinks_;
};

std::optional<Config> Loader::load() {
  std::string text;
  std::string err;
  if (!read_whole_file(path_, text, err)) {
    diags_.error(path_, {}, fmt::format("cannot read config: {}", err));
    return std::nullopt;
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    diags_.error(path_, Mark{e.mark.line + 1, e.mark.column + 1}, "YAML syntax error: " + e.msg);
    return std::nullopt;
  }
  if (!root.IsDefined() || root.IsNull()) {
    diags_.error(path_, {}, "config is empty; at least one app is needed");
    return std::nullopt;
  }
  if (!root.IsMap()) {
    diags_.error(path_, mark_of(root), "the config must be a mapping (apps:, poll:, sinks:, ...)");
    return std::nullopt;
  }

  Config cfg;
  cfg.path = path_;
  MapReader top(root, path_, diags_, env_, "the config");
  top.string("state_dir", cfg.state_dir);
  if (top.has("state_dir") && cfg.state_dir.empty()) top.error_at("state_dir", "'state_dir' must not be empty");
  cfg.state_dir = resolve(dir_, cfg.state_dir);
  top.boolean("strict_permissions", cfg.strict_permissions);
  read_log(top.node("log"), cfg.log);
  read_poll(top.node("poll"), cfg.poll);
  read_admin(top.node("admin"), cfg.admin);
  read_cluster(top.node("cluster"), cfg.cluster);
  read_apps(top, cfg);
  read_sinks(top, cfg.sinks);
  top.finish();
  sinks_ = cfg.sinks;
  if (diags_.has_errors()) return std::nullopt;
  return cfg;
}

void Loader::read_log(const YAML::Node& n, LogConfig& log) {
  MapReader r(n, path_, diags_, env_, "log");
  r.one_of("level", log.level, {"debug", "info", "warn", "error"});
  r.one_of("format", log.format, {"logfmt", "json"});
  r.finish();
}

void Loader::read_poll(const YAML::Node& n, PollConfig& poll) {
  MapReader r(n, path_, diags_, env_, "poll");
  if (r.duration("interval", poll.interval) && poll.interval.count() <= 0) {
    r.error_at("interval", "'interval' must be greater than 0");
  }
  if (r.duration("timeout", poll.timeout)) {
    if (poll.timeout.count() <= 0) {
      r.error_at("timeout", "'timeout' must be greater than 0");
    } else if (poll.timeout <= std::chrono::seconds(3)) {
      r.warning_at("timeout", fmt::format("'timeout' {} is not above 3s: the vendor's server gives up after about 3s, "
                                          "so slow answers will be cut off (5s recommended)",
                                          format_duration(poll.timeout)));
    }
  }
  std::int64_t v = 0;
  if (r.integer("connections", v, 1, 1024)) poll.connections = static_cast<int>(v);
  if (r.integer("retries", v, 0, 10)) poll.retries = static_cast<int>(v);
  double q = 0;
  if (r.number("max_qps", q, 0)) poll.max_qps = q;
  if (r.duration("recheck", poll.recheck) && poll.recheck.count() <= 0) {
    r.error_at("recheck", "'recheck' must be greater than 0");
  }
  r.duration("grace", poll.grace);
  r.finish();
}

void Loader::read_admin(const YAML::Node& n, AdminConfig& admin) {
  MapReader r(n, path_, diags_, env_, "admin");
  std::string listen;
  if (r.string("listen", listen)) {
    // The admin server's own parser: what check accepts, run can bind.
    std::string why;
    auto addr = parse_listen(listen, &why);
    if (!addr || addr->port == 0) {
      r.error_at("listen", fmt::format("'listen' must be HOST:PORT (e.g. 127.0.0.1:9108), got '{}'{}", r.raw("listen"),
                                       addr ? ": port 0 is not a fixed port" : ": " + why));
    } else {
      admin.listen = listen;
    }
  }
  if (r.duration("sink_failing_after", admin.sink_failing_after) && admin.sink_failing_after.count() <= 0)
    r.error_at("sink_failing_after", "sink_failing_after must be positive");
  r.finish();
}

namespace {
bool has_control(std::string_view s) {
  return std::any_of(s.begin(), s.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; });
}

std::string host_name() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return {};
  return buf;
}
}  // namespace

void Loader::read_cluster(const YAML::Node& n, std::optional<ClusterConfig>& cluster) {
  if (!n.IsDefined() || n.IsNull()) return;
  MapReader r(n, path_, diags_, env_, "cluster");
  ClusterConfig c;
  const YAML::Node list = r.node("etcd");
  if (!list.IsDefined() || list.IsNull()) {
    r.error_at("etcd", "'cluster' needs 'etcd': a list of etcd endpoints, e.g. [http://127.0.0.1:2379]");
  } else if (list.IsScalar() || list.IsSequence()) {
    std::vector<YAML::Node> items;
    if (list.IsScalar()) {
      items.push_back(list);
    } else {
      for (const auto& item : list) items.push_back(item);
    }
    for (const auto& item : items) {
      std::string why;
      std::optional<std::string> text = item.IsScalar() ? interpolate(item.Scalar(), env_, &why) : std::nullopt;
      const std::string url = text.value_or(item.IsScalar() ? item.Scalar() : std::string());
      auto ep = text ? tencent::parse_endpoint(url, &why, /*allow_plain=*/true) : std::nullopt;
      if (!item.IsScalar()) why = "must be a URL like http://127.0.0.1:2379";
      if (ep && ep->tls) why = "https etcd endpoints are not supported yet: use http:// on a trusted network";
      if (ep && !ep->base_path.empty()) why = "an etcd endpoint has no path: give http://HOST:PORT";
      if (!ep || !why.empty()) {
        diags_.error(path_, mark_of(item), fmt::format("cluster.etcd: '{}' {}", url, why));
        continue;
      }
      c.etcd.push_back(ep->url());
    }
    if (list.IsSequence() && list.size() == 0) r.error_at("etcd", "'etcd' must list at least one endpoint");
  } else {
    r.error_at("etcd", "'etcd' must be a list of endpoints like [http://127.0.0.1:2379]");
  }
  if (r.string("prefix", c.prefix)) {
    if (c.prefix.empty() || c.prefix.front() != '/' || c.prefix.back() == '/' || has_control(c.prefix))
      r.error_at("prefix", fmt::format("'prefix' must start with '/' and not end with one, got '{}'", c.prefix));
  }
  if (!r.string("name", c.name)) c.name = host_name();
  if (c.name.empty() || c.name.size() > 128 || c.name.find('/') != std::string::npos || has_control(c.name) ||
      c.name.find(' ') != std::string::npos) {
    r.error_at("name", fmt::format("the instance 'name' must be 1 to 128 characters without '/', spaces or control "
                                   "characters, got '{}'",
                                   c.name));
  }
  if (r.duration("lease", c.lease) && c.lease < std::chrono::seconds(2))
    r.error_at("lease", fmt::format("'lease' must be at least 2s, got {}", format_duration(c.lease)));
  r.finish();
  cluster = std::move(c);
}

void Loader::read_sinks(MapReader& top, std::vector<SinkConfig>& sinks) {
  bool absent = false;
  const auto list = top.list("sinks", "'sinks' must be a list of mappings, each with a 'type'", &absent);
  if (absent) top.warning_at("sinks", "no sinks configured: results are not stored anywhere");
  if (!list) return;
  for (const auto& item : *list) {
    // Only `type` is read here; the sink registry reads (and checks) the rest.
    MapReader r(item, path_, diags_, env_, "sink");
    SinkConfig s;
    if (!item.IsMap()) {
      if (item.IsNull()) diags_.error(path_, mark_of(item), "empty sink entry; each sink needs a 'type'");
      continue;
    }
    if (!r.string("type", s.type, true)) continue;
    if (s.type.empty()) {
      r.error_at("type", "sink 'type' must not be empty");
      continue;
    }
    s.node = static_cast<const YAML::Node&>(item);
    s.file = path_;
    s.mark = mark_of(item);
    sinks.push_back(std::move(s));
  }
}

void Loader::read_apps(MapReader& top, Config& cfg) {
  bool absent = false;
  const auto list = top.list("apps", "'apps' must be a list of mappings", &absent);
  if (absent || (list && list->size() == 0))
    top.error_at("apps", "no apps configured: 'apps' needs at least one entry");
  if (!list) return;
  std::size_t index = 0;
  std::vector<Mark> name_marks;  // parallel to cfg.apps
  for (const auto& item : *list) {
    AppConfig app;
    Mark name_mark;
    if (read_app(item, index++, cfg.strict_permissions, app, name_mark)) {
      const auto same =
          std::find_if(cfg.apps.begin(), cfg.apps.end(), [&](const AppConfig& a) { return a.name == app.name; });
      if (same != cfg.apps.end()) {
        const Mark first = name_marks[static_cast<std::size_t>(same - cfg.apps.begin())];
        diags_.error(path_, name_mark,
                     fmt::format("duplicate app name '{}' (first at {}:{}:{}); names must be unique", app.name, path_,
                                 first.line, first.col));
      }
    }
    cfg.apps.push_back(std::move(app));
    name_marks.push_back(name_mark);
  }
}

bool Loader::read_app(const YAML::Node& n, std::size_t index, bool strict, AppConfig& app, Mark& name_mark) {
  app.mark = mark_of(n);
  if (!n.IsMap()) {
    diags_.error(path_, app.mark, fmt::format("apps[{}] must be a mapping with name, sdkappid, admin, ...", index));
    return false;
  }
  std::string context = fmt::format("apps[{}]", index);
  MapReader r(n, path_, diags_, env_, context);
  bool named = false;
  name_mark = r.mark("name");
  if (r.string("name", app.name, true)) {
    if (app.name.empty()) {
      r.error_at("name", "app 'name' must not be empty");
    } else {
      named = true;
    }
  }
  if (r.uinteger("sdkappid", app.sdkappid, true) && app.sdkappid == 0) {
    r.error_at("sdkappid", "'sdkappid' must be greater than 0");
  }
  if (r.string("admin", app.admin, true) && app.admin.empty()) r.error_at("admin", "'admin' must not be empty");
  read_secret(r, strict, app);
  read_target(r, app);
  r.boolean("tls_verify", app.tls_verify);
  if (!app.tls_verify) r.warning_at("tls_verify", "'tls_verify: false' turns off certificate checks for this app");
  if (r.duration("usersig_ttl", app.usersig_ttl) && app.usersig_ttl < std::chrono::seconds(1)) {
    r.error_at("usersig_ttl", "'usersig_ttl' must be at least 1s");
  }
  read_discover(r, app);
  read_groups(r, app);
  r.finish();
  return named;
}

void Loader::read_secret(MapReader& r, bool strict, AppConfig& app) {
  const bool has_key = r.has("secret_key");
  const bool has_file = r.has("secret_key_file");
  if (has_key && has_file) {
    r.error_at("secret_key_file", "use either 'secret_key' or 'secret_key_file', not both");
    r.node("secret_key");
    r.node("secret_key_file");
    return;
  }
  if (!has_key && !has_file) {
    r.diags().error(path_, app.mark, "the app needs 'secret_key' or 'secret_key_file'");
    return;
  }
  if (has_key) {
    if (r.secret("secret_key", app.secret_key) && app.secret_key.empty()) {
      r.error_at("secret_key", "'secret_key' is empty");
    }
    return;
  }
  if (!r.string("secret_key_file", app.secret_key_file)) return;
  if (app.secret_key_file.empty()) {
    r.error_at("secret_key_file", "'secret_key_file' must not be empty");
    return;
  }
  const std::string file = resolve(dir_, app.secret_key_file);
  std::string content;
  std::string err;
  if (!read_whole_file(file, content, err, 64 << 10)) {
    r.error_at("secret_key_file", fmt::format("cannot read secret_key_file '{}': {}", file, err));
    return;
  }
  while (!content.empty() && std::isspace(static_cast<unsigned char>(content.back()))) content.pop_back();
  if (content.empty()) {
    r.error_at("secret_key_file", fmt::format("secret_key_file '{}' is empty", file));
    return;
  }
  app.secret_key = std::move(content);
  struct stat st {};
  if (::stat(file.c_str(), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    const std::string msg = fmt::format(
        "secret_key_file '{}' is readable by group or others (mode {:04o}); chmod 600 it", file, st.st_mode & 07777);
    if (strict) {
      r.error_at("secret_key_file", msg + " (strict_permissions is on)");
    } else {
      r.warning_at("secret_key_file", msg);
    }
  }
}

void Loader::read_target(MapReader& r, AppConfig& app) {
  const bool has_region = r.has("region");
  const bool has_endpoint = r.has("endpoint");
  std::string region, endpoint, ca_file;
  if (has_region && has_endpoint) {
    r.error_at("endpoint", "use either 'region' or 'endpoint', not both");
    r.node("region");
    r.node("endpoint");
  } else if (!has_region && !has_endpoint) {
    r.diags().error(path_, app.mark, fmt::format("the app needs 'region' ({}) or 'endpoint'", region_names()));
  } else if (has_region) {
    if (r.string("region", region)) {
      if (auto reg = tencent::find_region(region)) {
        app.region = region;
        app.endpoint = tencent::region_endpoint(*reg).url();
        app.vendor = true;
      } else {
        r.error_at("region", fmt::format("unknown region '{}' (one of {})", r.raw("region"), region_names()));
      }
    }
  } else if (r.string("endpoint", endpoint)) {
    std::string why;
    if (!endpoint.starts_with("https://")) {
      r.error_at("endpoint", fmt::format("'endpoint' must start with https://, got '{}'", r.raw("endpoint")));
    } else if (auto ep = tencent::parse_endpoint(endpoint, &why); !ep) {
      r.error_at("endpoint", fmt::format("invalid 'endpoint' '{}': {}", r.raw("endpoint"), why));
    } else {
      while (endpoint.size() > 8 && endpoint.back() == '/') endpoint.pop_back();
      app.endpoint = endpoint;
      app.vendor = is_vendor_host(ep->host);
    }
  }
  if (r.string("ca_file", ca_file)) app.ca_file = resolve(dir_, ca_file);
  read_proxy(r, app);
  if (r.number("qps", app.qps, 0) && app.vendor && app.qps > kVendorQps) {
    r.error_at("qps",
               fmt::format("'qps' {:g} is above the vendor's cap of {:g} requests/s per app", app.qps, kVendorQps));
  }
}

namespace {
// NO_PROXY as curl reads it: comma-separated host names (matching the host
// and its subdomains; a leading dot is the same), IP literals, "*" for all;
// ports are ignored.
bool no_proxy_matches(std::string_view list, std::string_view host) {
  auto lower = [](std::string_view v) {
    std::string o(v);
    for (auto& c : o) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return o;
  };
  const std::string h = lower(host);
  std::size_t pos = 0;
  while (pos <= list.size()) {
    auto comma = list.find(',', pos);
    auto item = list.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    pos = comma == std::string_view::npos ? list.size() + 1 : comma + 1;
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item.empty()) continue;
    if (item == "*") return true;
    std::string e = lower(item);
    if (!e.empty() && e.front() == '[') {
      e = e.substr(1, e.find(']') == std::string::npos ? std::string::npos : e.find(']') - 1);
    } else if (std::count(e.begin(), e.end(), ':') == 1) {
      e = e.substr(0, e.find(':'));
    }
    if (!e.empty() && e.front() == '.') e.erase(0, 1);
    if (h == e || (h.size() > e.size() && h.ends_with(e) && h[h.size() - e.size() - 1] == '.')) return true;
  }
  return false;
}
}  // namespace

// `proxy: http://HOST:PORT` or `proxy: none`; without it HTTPS_PROXY (or
// https_proxy) unless NO_PROXY (or no_proxy) matches the endpoint's host.
void Loader::read_proxy(MapReader& r, AppConfig& app) {
  std::string proxy;
  const bool given = r.string("proxy", proxy);
  if (given && proxy == "none") return;
  std::string from = "proxy";
  if (!given) {
    auto env = env_("HTTPS_PROXY");
    if (!env || env->empty()) env = env_("https_proxy");
    if (!env || env->empty() || app.endpoint.empty()) return;
    std::string why;
    auto ep = tencent::parse_endpoint(app.endpoint, &why, true);
    auto no = env_("NO_PROXY");
    if (!no || no->empty()) no = env_("no_proxy");
    if (ep && no && no_proxy_matches(*no, ep->host)) return;
    proxy = *env;
    from = "HTTPS_PROXY";
  }
  if (proxy.find("://") == std::string::npos) proxy = "http://" + proxy;  // "host:3128", as curl takes it
  while (proxy.size() > 8 && proxy.back() == '/') proxy.pop_back();
  std::string why;
  auto px = tencent::parse_endpoint(proxy, &why, /*allow_plain=*/true);
  if (!px || px->tls || !px->base_path.empty()) {
    std::string msg = px ? "only http://HOST:PORT proxies are supported (CONNECT; TLS stays end to end)" : why;
    if (given) {
      r.error_at("proxy", fmt::format("'proxy' {}: {}", msg, "write http://HOST:PORT or none"));
    } else {
      diags_.error(path_, app.mark, fmt::format("{} from the environment: {}", from, msg));
    }
    return;
  }
  app.proxy = px->url();
}

void Loader::read_globs(MapReader& r, std::string_view key, std::vector<std::string>& out) {
  const auto list = r.list(key, fmt::format("'{}' must be a list of patterns, e.g. [\"*\"]", key));
  if (!list) return;
  out.clear();
  for (const auto& item : *list) {
    if (!item.IsScalar() || item.Scalar().empty()) {
      diags_.error(path_, mark_of(item), fmt::format("each entry of '{}' must be a non-empty pattern", key));
      continue;
    }
    out.push_back(item.Scalar());
  }
}

void Loader::read_discover(MapReader& app_reader, AppConfig& app) {
  const YAML::Node n = app_reader.node("discover");
  if (!n.IsDefined() || n.IsNull()) return;
  MapReader r(n, path_, diags_, env_, "discover");
  DiscoverConfig d;
  if (r.duration("every", d.every) && d.every < std::chrono::seconds(5)) {
    r.error_at("every", fmt::format("'every' must be at least 5s (the list command allows 1 call a second), got {}",
                                    format_duration(d.every)));
  }
  static const std::vector<std::string_view> kTypes = {"Community", "Public", "Private", "ChatRoom", "AVChatRoom"};
  const YAML::Node types = r.node("types");
  if (types.IsDefined() && !types.IsNull()) {
    if (!types.IsSequence() || types.size() == 0) {
      r.error_at("types",
                 "'types' must be a non-empty list of group types (Community, Public, Private, ChatRoom, "
                 "AVChatRoom)");
    } else {
      d.types.clear();
      for (const auto& t : types) {
        const std::string v = t.IsScalar() ? t.Scalar() : std::string();
        if (std::find(kTypes.begin(), kTypes.end(), v) == kTypes.end()) {
          diags_.error(
              path_, mark_of(t),
              fmt::format("unknown group type '{}'; one of Community, Public, Private, ChatRoom, AVChatRoom", v));
        } else if (std::find(d.types.begin(), d.types.end(), v) == d.types.end()) {
          d.types.push_back(v);
        }
      }
    }
  }
  read_globs(r, "include", d.include);
  read_globs(r, "exclude", d.exclude);
  r.finish();
  app.discover = std::move(d);
}

void Loader::read_groups(MapReader& r, AppConfig& app) {
  GroupSet set(app.groups, diags_);
  if (const auto inline_groups = r.list("groups", "'groups' must be a list of group IDs")) {
    const std::uint32_t here = set.file_index(path_);
    GroupScanner scanner(path_, diags_);
    set.reserve(inline_groups->size());
    std::string id;
    GroupMetaPtr meta;
    for (const auto& item : *inline_groups) {
      if (read_group_entry(item, scanner, &env_, id, meta) && set.add(id, here, mark_of(item)) && meta)
        app.group_meta.emplace(id, std::move(meta));
    }
    scanner.finish();
  }
  if (const auto files = r.list("group_files", "'group_files' must be a list of paths")) {
    for (const auto& item : *files) {
      const Mark mark = mark_of(item);
      if (!item.IsScalar()) {
        diags_.error(path_, mark, "each entry of 'group_files' must be a path");
        continue;
      }
      std::string why;
      auto name = interpolate(item.Scalar(), env_, &why);
      if (!name) {
        diags_.error(path_, mark, "group file: " + why);
        continue;
      }
      const std::string file = resolve(dir_, *name);
      const std::uint32_t idx = set.file_index(file);
      std::string data;
      if (!read_whole_file(file, data, why)) {
        diags_.error(path_, mark, fmt::format("cannot read group file '{}': {}", file, why));
        continue;
      }
      GroupScanner scanner(file, diags_);
      bool added = false;
      auto add = [&](std::string_view id, Mark m) { added = set.add(id, idx, m); };
      if (is_yaml_path(file)) {
        scan_yaml_groups(data, scanner, add, [&](const std::string& id, GroupMetaPtr meta) {
          if (added) app.group_meta.emplace(id, std::move(meta));
        });
      } else {
        // One ID a line: the newline count bounds the new IDs.
        // IDs are views into `data`, so they can wait in a batch whose
        // table slots are prefetched together.
        set.reserve(static_cast<std::size_t>(std::count(data.begin(), data.end(), '\n')) + 1);
        GroupSet::Batch batch(set, idx);
        scan_text_groups(data, scanner, [&](std::string_view id, Mark m) { batch.push(id, m); });
        batch.flush();
      }
      scanner.finish();
    }
  }
  set.finish(path_, app.mark);
  if (app.groups.empty() && !app.discover) {
    diags_.warning(path_, app.mark, fmt::format("app '{}' watches no groups", app.name));
  }
}

}  // namespace

std::size_t Config::total_groups() const {
  std::size_t n = 0;
  for (const auto& a : apps) n += a.groups.size();
  return n;
}

LoadResult load_config(const std::string& path, const EnvLookup& env) {
  LoadResult result;
  Loader loader(path, env, result.diagnostics);
  result.config = loader.load();
  result.sinks = std::move(loader.sinks());
  result.diagnostics.sort();
  return result;
}

namespace {
std::string percent(double pct) {
  if (pct > 0 && pct < 0.1) return "<0.1%";
  return fmt::format("{:.1f}%", pct);
}
}  // namespace

std::string budget_key(const AppSettings& app) {
  return fmt::format("{}@{}", app.sdkappid, app.endpoint);
}

std::vector<SharedBudget> shared_budgets(const Config& cfg) {
  std::vector<SharedBudget> out;
  std::map<std::string, std::size_t> index;
  for (const auto& app : cfg.apps) {
    auto key = budget_key(app);
    auto [it, fresh] = index.try_emplace(key, out.size());
    if (fresh) out.push_back(SharedBudget{std::move(key), {}, app.qps, 0, false});
    SharedBudget& b = out[it->second];
    b.apps.push_back(&app);
    b.qps = std::min(b.qps, app.qps);
    b.groups += app.groups.size();
    b.vendor = b.vendor || app.vendor;
  }
  return out;
}

std::string format_summary(const Config& cfg) {
  std::string out;
  const double interval_s = static_cast<double>(cfg.poll.interval.count()) / 1000.0;
  auto load_pct = [&](double groups, double qps) {
    return (qps > 0 && interval_s > 0) ? 100.0 * groups / (qps * interval_s) : 0.0;
  };
  // `limit`: the most qps the suggestion may name (the vendor's cap), 0 = none.
  auto load_notes = [&](const std::string& who, double groups, double qps, double pct, double limit) {
    if (pct > 100.0) {
      const double need = std::ceil(groups / interval_s);
      const auto longer = format_duration(std::chrono::seconds(static_cast<std::int64_t>(std::ceil(groups / qps))));
      const std::string fix =
          (limit > 0 && need > limit)
              ? fmt::format("needs an interval of at least {}; {:g} qps is the vendor's cap", longer, limit)
              : fmt::format("needs an interval of at least {} or {:.0f} qps", longer, need);
      out += fmt::format(
          "    warning: {} cycle load is {:.1f}%: {:.0f} groups cannot all be polled within {} at {:g} qps ({})\n", who,
          pct, groups, format_duration(cfg.poll.interval), qps, fix);
    } else if (pct > 90.0) {
      out += fmt::format("    warning: {} cycle load is {:.1f}% of capacity: little headroom for retries\n", who, pct);
    }
  };

  out += fmt::format("config {}\n", cfg.path);
  out +=
      fmt::format("poll: interval {}, timeout {}, connections {}, retries {}{}\n", format_duration(cfg.poll.interval),
                  format_duration(cfg.poll.timeout), cfg.poll.connections, cfg.poll.retries,
                  cfg.poll.max_qps ? fmt::format(", max_qps {:g}", *cfg.poll.max_qps) : std::string());
  out += fmt::format("apps: {}\n", cfg.apps.size());
  // Entries naming one SDKAppID and endpoint share one budget: the
  // strictest qps among them, for their summed groups.
  double total_qps = 0;
  for (const auto& b : shared_budgets(cfg)) {
    const double limit = b.vendor ? 200.0 : 0.0;
    const auto groups = static_cast<double>(b.groups);
    if (b.apps.size() == 1) {
      const AppConfig& app = *b.apps.front();
      const double pct = load_pct(groups, app.qps);
      out += fmt::format("  {}: sdkappid {}, endpoint {}{}, qps {:g}, groups {}, cycle load {}\n", app.name,
                         app.sdkappid, app.endpoint, app.region.empty() ? "" : " (region " + app.region + ")", app.qps,
                         app.groups.size(), percent(pct));
      load_notes("app '" + app.name + "'", groups, app.qps, pct, limit);
    } else {
      std::string names;
      for (const auto* a : b.apps) {
        names += names.empty() ? "" : ", ";
        names += a->name;
        out += fmt::format("  {}: sdkappid {}, endpoint {}, qps {:g}, groups {}\n", a->name, a->sdkappid, a->endpoint,
                           a->qps, a->groups.size());
      }
      const double pct = load_pct(groups, b.qps);
      out += fmt::format(
          "  shared budget of {}: sdkappid {} at {}: one cap of {:g} qps for {:.0f} groups, cycle load {}\n", names,
          b.apps.front()->sdkappid, b.apps.front()->endpoint, b.qps, groups, percent(pct));
      load_notes("the shared budget of " + names, groups, b.qps, pct, limit);
    }
    total_qps += b.qps;
  }
  const double cap_qps = cfg.poll.max_qps ? std::min(total_qps, *cfg.poll.max_qps) : total_qps;
  const double total_groups = static_cast<double>(cfg.total_groups());
  const double total_pct = load_pct(total_groups, cap_qps);
  out += fmt::format("total: {} app{}, {} groups, capacity {:g} qps, cycle load {}\n", cfg.apps.size(),
                     cfg.apps.size() == 1 ? "" : "s", cfg.total_groups(), cap_qps, percent(total_pct));
  if (cfg.poll.max_qps && *cfg.poll.max_qps < total_qps)
    load_notes("the total (max_qps)", total_groups, cap_qps, total_pct, 0);
  std::string types;
  for (const auto& s : cfg.sinks) {
    if (!types.empty()) types += ", ";
    types += s.type;
  }
  out += fmt::format("sinks: {}{}\n", cfg.sinks.size(), types.empty() ? "" : " (" + types + ")");
  out += fmt::format("admin: {}\n", cfg.admin.listen.empty() ? std::string("off") : "listen " + cfg.admin.listen);
  if (cfg.cluster) {
    std::string etcd;
    for (const auto& e : cfg.cluster->etcd) etcd += (etcd.empty() ? "" : ", ") + e;
    out += fmt::format("cluster: instance {} under {} on etcd {}, lease {}: each SDKAppID is polled by one instance\n",
                       cfg.cluster->name, cfg.cluster->prefix, etcd, format_duration(cfg.cluster->lease));
  }
  return out;
}

bool glob_match(std::string_view p, std::string_view t) {
  // Iterative with one backtrack point: linear for the patterns people write.
  std::size_t pi = 0, ti = 0, star = std::string_view::npos, mark = 0;
  while (ti < t.size()) {
    if (pi < p.size() && (p[pi] == '?' || p[pi] == t[ti])) {
      ++pi;
      ++ti;
    } else if (pi < p.size() && p[pi] == '*') {
      star = pi++;
      mark = ti;
    } else if (star != std::string_view::npos) {
      pi = star + 1;
      ti = ++mark;
    } else {
      return false;
    }
  }
  while (pi < p.size() && p[pi] == '*') ++pi;
  return pi == p.size();
}

bool DiscoverConfig::keeps(std::string_view type, std::string_view id, std::string_view name) const {
  if (std::find(types.begin(), types.end(), type) == types.end()) return false;
  auto any = [&](const std::vector<std::string>& globs) {
    return std::any_of(globs.begin(), globs.end(),
                       [&](const std::string& g) { return glob_match(g, id) || glob_match(g, name); });
  };
  return any(include) && !any(exclude);
}

}  // namespace groupwatch::config
