// The emulator's inputs: YAML/text files and the command line.
#include "groupwatch/emulator/config.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <stdexcept>

#include "groupwatch/util/command_line.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::emulator {

namespace {

[[noreturn]] void fail_at(const std::string& path, const YAML::Mark& m, const std::string& msg) {
  if (m.is_null()) throw std::runtime_error(fmt::format("{}: {}", path, msg));
  throw std::runtime_error(fmt::format("{}:{}:{}: {}", path, m.line + 1, m.column + 1, msg));
}

YAML::Node load_list(const std::string& path) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(path);
  } catch (const YAML::BadFile&) {
    throw std::runtime_error(path + ": cannot read the file");
  } catch (const YAML::Exception& e) {
    fail_at(path, e.mark, e.msg);
  }
  if (root.IsNull()) return YAML::Node(YAML::NodeType::Sequence);  // an empty file is an empty list
  if (!root.IsSequence()) fail_at(path, root.Mark(), "expected a YAML list");
  return root;
}

void check_keys(const std::string& path, const YAML::Node& item, std::initializer_list<std::string_view> allowed) {
  if (!item.IsMap()) fail_at(path, item.Mark(), "expected a map");
  for (const auto& kv : item) {
    const auto key = kv.first.as<std::string>();
    if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
      fail_at(path, kv.first.Mark(), fmt::format("unknown key '{}'", key));
    }
  }
}

template <class T>
T scalar(const std::string& path, const YAML::Node& n, std::string_view what) {
  if (!n.IsScalar()) fail_at(path, n.Mark(), fmt::format("{} must be a scalar", what));
  if constexpr (std::is_integral_v<T>) {
    const auto v = parse_number<T>(n.Scalar());
    if (!v) fail_at(path, n.Mark(), fmt::format("{} must be a non-negative integer", what));
    return *v;
  } else {
    return n.Scalar();
  }
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot read the file");
  return std::string(std::istreambuf_iterator<char>(in), {});
}

}  // namespace

std::vector<App> load_apps_yaml(const std::string& path) {
  const auto root = load_list(path);
  std::vector<App> apps;
  std::set<std::uint64_t> seen;
  for (const auto& item : root) {
    check_keys(path, item, {"sdkappid", "secret_key", "admin", "qps"});
    App a;
    if (!item["sdkappid"]) fail_at(path, item.Mark(), "sdkappid is required");
    a.sdkappid = scalar<std::uint64_t>(path, item["sdkappid"], "sdkappid");
    if (!item["secret_key"]) fail_at(path, item.Mark(), "secret_key is required");
    a.secret_key = scalar<std::string>(path, item["secret_key"], "secret_key");
    if (a.secret_key.empty()) fail_at(path, item["secret_key"].Mark(), "secret_key is empty");
    if (item["admin"]) a.admin = scalar<std::string>(path, item["admin"], "admin");
    if (a.admin.empty()) fail_at(path, item["admin"].Mark(), "admin is empty");
    if (item["qps"]) a.qps = scalar<std::uint32_t>(path, item["qps"], "qps");
    if (!seen.insert(a.sdkappid).second) fail_at(path, item.Mark(), fmt::format("sdkappid {} twice", a.sdkappid));
    apps.push_back(std::move(a));
  }
  if (apps.empty()) throw std::runtime_error(path + ": no apps");
  return apps;
}

std::vector<Group> load_groups_text(const std::string& path) {
  const std::string text = read_text(path);
  std::vector<Group> groups;
  std::size_t line_no = 0;
  std::string_view rest = text;
  while (!rest.empty()) {
    ++line_no;
    const auto nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view{} : rest.substr(nl + 1);
    // '#' is part of every group ID, so a comment starts a line or follows a blank.
    std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (const auto c = t.find_first_of(" \t"); c != std::string::npos) {
      const std::string after = trim(std::string_view(t).substr(c));
      if (!after.empty() && after[0] != '#') {
        throw std::runtime_error(fmt::format("{}:{}: one group ID per line expected", path, line_no));
      }
      t.resize(c);
    }
    // Malformed IDs are kept: the emulator answers 10015 for them anyway.
    groups.push_back(Group{std::move(t), GroupType::community, Fault::none});
  }
  return groups;
}

std::vector<Group> load_groups_yaml(const std::string& path) {
  const auto root = load_list(path);
  std::vector<Group> groups;
  for (const auto& item : root) {
    Group g;
    if (item.IsScalar()) {
      g.id = item.Scalar();
    } else {
      check_keys(path, item, {"id", "type", "fault", "name"});
      if (!item["id"]) fail_at(path, item.Mark(), "id is required");
      g.id = scalar<std::string>(path, item["id"], "id");
      if (item["type"]) {
        const auto t = parse_group_type(scalar<std::string>(path, item["type"], "type"));
        if (!t) fail_at(path, item["type"].Mark(), "type must be Community, Public, Private, ChatRoom or AVChatRoom");
        g.type = *t;
      }
      if (item["fault"]) {
        const auto f = parse_fault(scalar<std::string>(path, item["fault"], "fault"));
        if (!f) fail_at(path, item["fault"].Mark(), "fault must be none, 10002, 502, reset, stall, malformed or 10010");
        g.fault = *f;
      }
      if (item["name"]) g.name = scalar<std::string>(path, item["name"], "name");
    }
    if (g.id.empty()) fail_at(path, item.Mark(), "empty group id");
    groups.push_back(std::move(g));
  }
  return groups;
}

std::string usage() {
  return R"(Usage: groupwatch-emulator [OPTIONS]
A local stand-in for Tencent Cloud Chat's get_online_member_num endpoint and the
group-discovery commands get_appid_group_list and get_group_info.

Listener:
  --listen ADDR:PORT        default 127.0.0.1:18443 (port 0 = ephemeral)
  --plain                   HTTP instead of HTTPS
  --tls-cert FILE --tls-key FILE
                            PEM certificate and key (default: a generated self-signed one)
  --write-ca FILE           write the certificate (PEM) for a client's ca_file
  --body-limit BYTES        default 16384 (larger bodies get HTTP 413)
  --idle-timeout DUR        keep-alive idle timeout, default 60s
Apps (a YAML list, or one app from flags):
  --apps FILE               [{sdkappid, secret_key, admin, qps}]
  --sdkappid N              default 1400000001
  --secret-key KEY | --secret-key-file FILE
                            default "demo-secret-key-0123456789abcdef"
  --admin NAME              default administrator
  --qps N                   default 200
Groups (any combination; none given = --accept-any-group):
  --groups-file FILE        one ID a line, '#' comments, all Community
  --groups-yaml FILE        [{id, type, fault, name}]
  --groups N                N generated Community IDs (from --seed)
  --accept-any-group        every well-formed @TGS#_ ID is a Community group
  --write-groups FILE       write the known group IDs, one a line
Behaviour:
  --refresh DUR             count refresh period, default 4m
  --seed N                  default 1
  --fault-10002 R --fault-502 R --fault-reset R --fault-stall R --fault-malformed R
                            fault rates in 0..1 over all requests
  --stall DUR               how long a stalled request is held, default 10s
  --latency DUR | --latency-dist uniform:MIN:MAX
  --request-log FILE        JSON lines: time, conn, sdkappid, group, status, code|event, cmd
Control API on the same listener: GET /_emulator/stats,
POST /_emulator/{dissolve,create,qps,reset-stats,fault,list-fault,down}.
Counters go to stdout as JSON at exit and to stderr on SIGUSR1.
)";
}

namespace {

// Values of options, checked; the parser puts the option's name before a
// BadOptionValue's text.
template <class T>
T number(const std::string& v, T max) {
  const auto n = parse_number<T>(v);
  if (!n || *n > max) throw BadOptionValue(fmt::format("'{}' is not a number in 0..{}", v, max));
  return *n;
}

Millis duration(const std::string& v) {
  const auto d = parse_duration(v);
  if (!d) throw BadOptionValue(fmt::format("'{}' is not a duration (250ms, 5s, 4m)", v));
  return *d;
}

double rate(const std::string& v) {
  const auto r = parse_rate(v);
  if (!r) throw BadOptionValue(fmt::format("'{}' is not a rate in 0..1", v));
  return *r;
}

Latency latency_dist(const std::string& v) {
  const auto c1 = v.find(':');
  const auto c2 = c1 == std::string::npos ? c1 : v.find(':', c1 + 1);
  std::optional<Millis> lo, hi;
  if (c2 != std::string::npos && v.substr(0, c1) == "uniform") {
    lo = parse_duration(v.substr(c1 + 1, c2 - c1 - 1));
    hi = parse_duration(v.substr(c2 + 1));
  }
  if (!lo || !hi || *lo > *hi) throw std::runtime_error("--latency-dist: uniform:MIN:MAX expected (uniform:20ms:80ms)");
  return Latency{*lo, *hi};
}

// What the options gather before the apps and groups are loaded.
struct Gathered {
  App single{demo_sdkappid, std::string(demo_secret_key), "administrator", 200};
  bool single_flags = false;
  std::string apps_file;
  std::vector<std::string> group_files, group_yamls;
  std::optional<std::size_t> generated;
};

// An option whose value is kept as written.
auto into(std::string& target) {
  return [&target](const std::string& v) { target = v; };
}

// The listener, app and group options.
void listener_app_or_group(CommandLineParser& p, CommandLine& cl, Gathered& g) {
  Options& o = cl.server;
  p.option("--listen", [&o](const std::string& v) {
    std::string why;
    const auto addr = parse_listen(v, &why);
    if (!addr) throw std::runtime_error("--listen: ADDR:PORT expected: " + why);
    o.address = addr->host;
    o.port = addr->port;
  });
  p.flag("--plain", [&o] { o.tls = false; });
  p.option("--tls-cert", into(o.tls_cert_file));
  p.option("--tls-key", into(o.tls_key_file));
  p.option("--write-ca", into(cl.write_ca));
  p.option("--write-groups", into(cl.write_groups));
  p.option("--body-limit", [&o](const std::string& v) { o.body_limit = number(v, std::size_t{64} * 1024 * 1024); });
  p.option("--idle-timeout", [&o](const std::string& v) { o.idle_timeout = duration(v); });
  p.option("--apps", into(g.apps_file));
  // The single app's options, which --apps excludes.
  auto single = [&g](auto set) {
    return [&g, set](const std::string& v) {
      set(v);
      g.single_flags = true;
    };
  };
  p.option("--sdkappid",
           single([&g](const std::string& v) { g.single.sdkappid = number(v, std::uint64_t{UINT64_MAX}); }));
  p.option("--secret-key", single(into(g.single.secret_key)));
  p.option("--secret-key-file", single([&g](const std::string& v) { g.single.secret_key = trim(read_text(v)); }));
  p.option("--admin", single(into(g.single.admin)));
  p.option("--qps", single([&g](const std::string& v) { g.single.qps = number(v, std::uint32_t{1'000'000}); }));
  p.option("--groups-file", [&g](const std::string& v) { g.group_files.push_back(v); });
  p.option("--groups-yaml", [&g](const std::string& v) { g.group_yamls.push_back(v); });
  p.option("--groups", [&g](const std::string& v) { g.generated = number(v, std::size_t{10'000'000}); });
  p.flag("--accept-any-group", [&o] { o.accept_any_group = true; });
}

// The behaviour options.
void behaviour(CommandLineParser& p, Options& o) {
  p.option("--refresh", [&o](const std::string& v) {
    o.refresh = duration(v);
    if (o.refresh.count() <= 0) throw std::runtime_error("--refresh must be positive");
  });
  p.option("--seed", [&o](const std::string& v) { o.seed = number(v, std::uint64_t{UINT64_MAX}); });
  const std::pair<const char*, double FaultRates::*> faults[] = {{"--fault-10002", &FaultRates::e10002},
                                                                 {"--fault-502", &FaultRates::http502},
                                                                 {"--fault-reset", &FaultRates::reset},
                                                                 {"--fault-stall", &FaultRates::stall},
                                                                 {"--fault-malformed", &FaultRates::malformed}};
  for (const auto& [name, member] : faults) {
    p.option(name, [&o, member](const std::string& v) { o.faults.*member = rate(v); });
  }
  p.option("--stall", [&o](const std::string& v) { o.stall = duration(v); });
  p.option("--latency", [&o](const std::string& v) {
    const auto d = duration(v);
    o.latency = Latency{d, d};
  });
  p.option("--latency-dist", [&o](const std::string& v) { o.latency = latency_dist(v); });
  p.option("--request-log", into(o.request_log_file));
}

// Loads the apps and groups the options named and checks what they say
// together. Throws std::runtime_error.
void finish(Options& o, const Gathered& g) {
  const auto& f = o.faults;
  if (f.e10002 + f.http502 + f.reset + f.stall + f.malformed > 1.0)
    throw std::runtime_error("fault rates add up to more than 1");
  if (!g.apps_file.empty()) {
    if (g.single_flags) throw std::runtime_error("--apps and --sdkappid/--secret-key/--admin/--qps do not go together");
    o.apps = load_apps_yaml(g.apps_file);
  } else {
    if (g.single.secret_key.empty()) throw std::runtime_error("--secret-key is empty");
    if (g.single.admin.empty()) throw std::runtime_error("--admin is empty");
    o.apps.push_back(g.single);
  }
  for (const auto& p : g.group_files) {
    auto groups = load_groups_text(p);
    o.groups.insert(o.groups.end(), groups.begin(), groups.end());
  }
  for (const auto& p : g.group_yamls) {
    auto groups = load_groups_yaml(p);
    o.groups.insert(o.groups.end(), groups.begin(), groups.end());
  }
  if (g.generated) {
    for (auto& id : generate_group_ids(*g.generated, o.seed)) o.groups.push_back(Group{std::move(id)});
  }
  if (g.group_files.empty() && g.group_yamls.empty() && !g.generated) o.accept_any_group = true;
}

}  // namespace

std::optional<CommandLine> parse_command_line(std::span<const char* const> args, std::string* error) {
  CommandLine cl;
  Gathered g;
  try {
    // An option it does not know, named without its value.
    auto unknown = [](const std::string& word) {
      return fmt::format("unknown option '{}' (see --help)", word.substr(0, word.find('=')));
    };
    CommandLineParser p(unknown, [](const std::string& flag) { return flag + " takes no value (see --help)"; });
    p.flag("-h,--help", [&cl] { cl.help = true; });
    p.flag("--version", [&cl] { cl.version = true; });
    listener_app_or_group(p, cl, g);
    behaviour(p, cl.server);
    if (const auto words = p.parse(args); !words.empty()) throw std::runtime_error(unknown(words.front()));
    if (!cl.help && !cl.version) finish(cl.server, g);
  } catch (const std::exception& e) {
    *error = e.what();
    return std::nullopt;
  }
  return cl;
}

}  // namespace groupwatch::emulator
