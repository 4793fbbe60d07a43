// The emulator's inputs: YAML/text files and the command line.
#include "groupwatch/emulator/config.hpp"

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <charconv>
#include <fstream>
#include <set>
#include <stdexcept>

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
    const auto s = n.Scalar();
    T v{};
    const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc() || p != s.data() + s.size()) {
      fail_at(path, n.Mark(), fmt::format("{} must be a non-negative integer", what));
    }
    return v;
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

// The values of one option: inline (--opt=value) or the next argument.
// Throws std::runtime_error naming the option.
class ArgReader {
 public:
  ArgReader(std::span<const char* const> args, std::size_t& i, std::string_view arg,
            std::optional<std::string_view> inline_value)
      : args_(args), i_(i), arg_(arg), inline_(inline_value) {}

  std::string value() {
    if (inline_) return std::string(*inline_);
    if (i_ + 1 >= args_.size()) throw std::runtime_error(fmt::format("{} needs a value", arg_));
    return args_[++i_];
  }
  template <class T>
  T number(T max) {
    const std::string v = value();
    T n{};
    const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size() || n > max) {
      throw std::runtime_error(fmt::format("{}: '{}' is not a number in 0..{}", arg_, v, max));
    }
    return n;
  }
  Millis duration() {
    const std::string v = value();
    const auto d = parse_duration(v);
    if (!d) throw std::runtime_error(fmt::format("{}: '{}' is not a duration (250ms, 5s, 4m)", arg_, v));
    return *d;
  }
  double rate() {
    const std::string v = value();
    double r = -1;
    const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), r);
    if (v.empty() || ec != std::errc() || p != v.data() + v.size() || !(r >= 0 && r <= 1)) {
      throw std::runtime_error(fmt::format("{}: '{}' is not a rate in 0..1", arg_, v));
    }
    return r;
  }

 private:
  std::span<const char* const> args_;
  std::size_t& i_;
  std::string_view arg_;
  std::optional<std::string_view> inline_;
};

// What the options gather before the apps and groups are loaded.
struct Gathered {
  App single{demo_sdkappid, std::string(demo_secret_key), "administrator", 200};
  bool single_flags = false;
  std::string apps_file;
  std::vector<std::string> group_files, group_yamls;
  std::optional<std::size_t> generated;
};

// The listener, app and group options; false when `arg` is none of them.
// Throws std::runtime_error for a bad value.
bool listener_app_or_group(std::string_view arg, ArgReader& r, CommandLine& cl, Gathered& g) {
  Options& o = cl.server;
  if (arg == "--listen") {
    std::string why;
    const auto addr = parse_listen(r.value(), &why);
    if (!addr) throw std::runtime_error("--listen: ADDR:PORT expected: " + why);
    o.address = addr->host;
    o.port = addr->port;
  } else if (arg == "--plain") {
    o.tls = false;
  } else if (arg == "--tls-cert") {
    o.tls_cert_file = r.value();
  } else if (arg == "--tls-key") {
    o.tls_key_file = r.value();
  } else if (arg == "--write-ca") {
    cl.write_ca = r.value();
  } else if (arg == "--write-groups") {
    cl.write_groups = r.value();
  } else if (arg == "--body-limit") {
    o.body_limit = r.number(std::size_t{64} * 1024 * 1024);
  } else if (arg == "--idle-timeout") {
    o.idle_timeout = r.duration();
  } else if (arg == "--apps") {
    g.apps_file = r.value();
  } else if (arg == "--sdkappid") {
    g.single.sdkappid = r.number(std::uint64_t{UINT64_MAX});
  } else if (arg == "--secret-key") {
    g.single.secret_key = r.value();
  } else if (arg == "--secret-key-file") {
    g.single.secret_key = trim(read_text(r.value()));
  } else if (arg == "--admin") {
    g.single.admin = r.value();
  } else if (arg == "--qps") {
    g.single.qps = r.number(std::uint32_t{1'000'000});
  } else if (arg == "--groups-file") {
    g.group_files.push_back(r.value());
  } else if (arg == "--groups-yaml") {
    g.group_yamls.push_back(r.value());
  } else if (arg == "--groups") {
    g.generated = r.number(std::size_t{10'000'000});
  } else if (arg == "--accept-any-group") {
    o.accept_any_group = true;
  } else {
    return false;
  }
  if (arg == "--sdkappid" || arg == "--secret-key" || arg == "--secret-key-file" || arg == "--admin" || arg == "--qps")
    g.single_flags = true;
  return true;
}

// The behaviour options; false when `arg` is none of them.
bool behaviour(std::string_view arg, ArgReader& r, Options& o) {
  if (arg == "--refresh") {
    o.refresh = r.duration();
    if (o.refresh.count() <= 0) throw std::runtime_error("--refresh must be positive");
  } else if (arg == "--seed") {
    o.seed = r.number(std::uint64_t{UINT64_MAX});
  } else if (arg == "--fault-10002") {
    o.faults.e10002 = r.rate();
  } else if (arg == "--fault-502") {
    o.faults.http502 = r.rate();
  } else if (arg == "--fault-reset") {
    o.faults.reset = r.rate();
  } else if (arg == "--fault-stall") {
    o.faults.stall = r.rate();
  } else if (arg == "--fault-malformed") {
    o.faults.malformed = r.rate();
  } else if (arg == "--stall") {
    o.stall = r.duration();
  } else if (arg == "--latency") {
    const auto d = r.duration();
    o.latency = Latency{d, d};
  } else if (arg == "--latency-dist") {
    const std::string v = r.value();
    const auto c1 = v.find(':');
    const auto c2 = c1 == std::string::npos ? c1 : v.find(':', c1 + 1);
    std::optional<Millis> lo, hi;
    if (c2 != std::string::npos && v.substr(0, c1) == "uniform") {
      lo = parse_duration(v.substr(c1 + 1, c2 - c1 - 1));
      hi = parse_duration(v.substr(c2 + 1));
    }
    if (!lo || !hi || *lo > *hi)
      throw std::runtime_error("--latency-dist: uniform:MIN:MAX expected (uniform:20ms:80ms)");
    o.latency = Latency{*lo, *hi};
  } else if (arg == "--request-log") {
    o.request_log_file = r.value();
  } else {
    return false;
  }
  return true;
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
    for (std::size_t i = 0; i < args.size(); ++i) {
      std::string_view arg = args[i];
      std::optional<std::string_view> inline_value;
      if (const auto eq = arg.find('='); arg.starts_with("--") && eq != std::string_view::npos) {
        inline_value = arg.substr(eq + 1);
        arg = arg.substr(0, eq);
      }
      ArgReader r(args, i, arg, inline_value);
      if (arg == "--help" || arg == "-h") {
        cl.help = true;
      } else if (arg == "--version") {
        cl.version = true;
      } else if (!listener_app_or_group(arg, r, cl, g) && !behaviour(arg, r, cl.server)) {
        throw std::runtime_error(fmt::format("unknown option '{}' (see --help)", arg));
      }
    }
    if (!cl.help && !cl.version) finish(cl.server, g);
  } catch (const std::exception& e) {
    *error = e.what();
    return std::nullopt;
  }
  return cl;
}

}  // namespace groupwatch::emulator
