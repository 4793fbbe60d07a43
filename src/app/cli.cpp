// The `groupwatch` command line (interface.md): parsing and the commands.
#include "groupwatch/app/cli.hpp"

#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "app/commands.hpp"
#include "app/preflight.hpp"
#include "groupwatch/app/engine.hpp"
#include "groupwatch/config/config.hpp"
#include "groupwatch/delivery/fanout.hpp"
#include "groupwatch/tencent/errors.hpp"
#include "groupwatch/tencent/usersig.hpp"
#include "groupwatch/util/command_line.hpp"
#include "groupwatch/util/events.hpp"
#include "groupwatch/util/log.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::app {

namespace asio = boost::asio;

namespace {

constexpr const char* default_config = "/etc/groupwatch/groupwatch.yaml";

constexpr const char* usage_text =
    R"(groupwatch - keeps the online-member counts of Tencent Cloud Chat Community groups fresh

Usage:
  groupwatch run     [--config FILE]              poll every group once per interval, forever (SIGHUP reloads)
  groupwatch once    [--config FILE] [--quiet]    poll every group exactly once, flush the sinks, exit
  groupwatch check   [--config FILE]              validate the config and its watchlists, print a summary
  groupwatch query   [--config FILE] [--app NAME] [--verbose] GROUP_ID...   ask for these groups now, one line each
  groupwatch usersig [--config FILE] [--app NAME] [--ttl DURATION]  print a fresh UserSig for the app's admin
  groupwatch discover [--config FILE] [--app NAME]  list the groups discovery would watch now, poll nothing
  groupwatch help config                          every config key with its default
  groupwatch help sink TYPE                       one sink type's keys (help sinks: the types)
  groupwatch help COMMAND | COMMAND --help        one command
  groupwatch --help | --version

Options:
  --config FILE   the YAML config (default /etc/groupwatch/groupwatch.yaml)
  --app NAME      which app (default: the only one, or the first)
  --quiet         once: no progress line on stderr
  --verbose       query: the daemon's log lines on stderr too (by default only errors; the cause
                  of a failure is on the group's line)
  --ttl DURATION  usersig: lifetime of the printed signature, e.g. 3600 (seconds), 90m, 1d
                  (default: the app's usersig_ttl)

Exit status:
  run: 0 after SIGTERM/SIGINT, 2 bad config, 1 fatal runtime error
  once: 0 every group answered and every sink took it, 1 otherwise, 2 bad config
  check: 0 valid, 2 invalid      query: 0 all answered OK, 1 otherwise
  discover: 0 listed, 1 a listing failed, 2 bad config
)";

struct CommandHelp {
  std::string_view name;
  std::string_view text;
};

// `groupwatch help COMMAND` and `groupwatch COMMAND --help`.
constexpr CommandHelp command_help[] = {
    {"run", R"(groupwatch run [--config FILE]

Polls every group of every app once per poll.interval, forever, within each SDKAppID's qps cap,
and writes every result to every sink. Holds state_dir/groupwatch.lock: a second `run` on the
same state_dir exits 2; `query` and `once` beside it go through it. SIGHUP reloads the config
(every key, or none: a key that cannot change at runtime refuses the reload); SIGTERM/SIGINT
finish in-flight requests within poll.grace, flush the sinks and exit 0; a second one exits at
once.
Exit: 0 after SIGTERM/SIGINT; 2 bad config, unusable state_dir or a busy admin port; 1 fatal
runtime error.
)"},
    {"once", R"(groupwatch once [--config FILE] [--quiet]

Polls every group exactly once (with retries), flushes the sinks and exits. With a TTY on
stderr a progress line is drawn unless --quiet.
Exit: 0 every group answered and every sink took every result; 1 otherwise; 2 bad config.
)"},
    {"check", R"(groupwatch check [--config FILE]

Validates the config and every watchlist, runs the start-up checks of `run` (ca_file loadable,
secret files readable, state_dir usable, sinks configurable, listen addresses valid) and prints
a summary: apps, groups, shared budgets, cycle load, sinks.
Exit: 0 valid; 2 invalid, each problem as FILE:LINE:COL: error: message.
)"},
    {"query", R"(groupwatch query [--config FILE] [--app NAME] [--verbose] GROUP_ID...

Asks for the given groups now and prints one line each: GROUP<TAB>COUNT, or
GROUP<TAB>error CODE: meaning: cause. Beside a running daemon it goes through the daemon's
budget. Log lines other than errors only with --verbose.
Exit: 0 every group answered OK; 1 otherwise; 2 bad config or no GROUP_ID.
)"},
    {"discover", R"(groupwatch discover [--config FILE] [--app NAME]

Lists the groups of every app with `discover:` (or of the app NAME, with the defaults when it has
no `discover:`) as discovery would now: one line per kept group, APP<TAB>ID<TAB>TYPE<TAB>NAME,
then "# APP: N of M listed groups kept, N Community, ...". Polls nothing; for previewing
`types`, `include` and `exclude`.
Exit: 0 listed; 1 a listing failed (the cause on stderr); 2 bad config or unknown app.
)"},
    {"usersig", R"(groupwatch usersig [--config FILE] [--app NAME] [--ttl DURATION]

Prints a fresh UserSig for the app's admin identifier and nothing else on stdout.
--ttl: 3600 (seconds) or a duration such as 90m or 1d (default: the app's usersig_ttl).
Exit: 0; 2 bad config or unknown app.
)"},
};

const CommandHelp* find_command_help(std::string_view name) {
  for (const auto& c : command_help)
    if (c.name == name) return &c;
  return nullptr;
}

int cmd_help(const std::vector<std::string>& topic) {
  if (topic.empty()) {
    std::cout << usage_text;
    return 0;
  }
  if (topic[0] == "config") return cmd_help_config();
  if (topic[0] == "sinks" || (topic[0] == "sink" && topic.size() == 1)) return cmd_help_sink("");
  if (topic[0] == "sink") return cmd_help_sink(topic[1]);
  if (const auto* c = find_command_help(topic[0])) {
    std::cout << c->text;
    return 0;
  }
  std::cerr << fmt::format(
      "groupwatch: no help on '{}'; topics: config, sinks, sink TYPE, run, once, check, query, usersig\n", topic[0]);
  return 2;
}

struct Args {
  std::string command;
  std::string config = default_config;
  std::string app;
  std::optional<std::int64_t> ttl;
  bool help = false;
  bool quiet = false;
  bool verbose = false;
  std::vector<std::string> positional;
};

// --ttl: plain seconds, as before, or a duration like every other one.
std::int64_t ttl_seconds(const std::string& v) {
  bool digits = !v.empty() && std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; });
  auto d = parse_duration(digits ? v + "s" : v);
  if (!d || d->count() < 1000) {
    throw std::runtime_error(
        fmt::format("--ttl takes a duration of at least 1s, e.g. 3600 (seconds), 90m or 1d; got '{}'", v));
  }
  return std::chrono::duration_cast<std::chrono::seconds>(*d).count();
}

std::optional<Args> parse_args(int argc, char** argv, std::string& error) {
  Args a;
  CommandLineParser p([](const std::string& word) { return fmt::format("unknown option '{}'", word); });
  p.flag("-h,--help", [&a] { a.help = true; });
  p.flag("-V,--version", [&a] { a.command = "version"; });
  p.option("-c,--config", [&a](const std::string& v) { a.config = v; });
  p.option("--app", [&a](const std::string& v) { a.app = v; });
  p.option("--ttl", [&a](const std::string& v) { a.ttl = ttl_seconds(v); });
  p.flag("-q,--quiet", [&a] { a.quiet = true; });
  p.flag("-v,--verbose", [&a] { a.verbose = true; });
  try {
    const std::span<const char* const> args(argv + (argc > 0 ? 1 : 0),
                                            static_cast<std::size_t>(argc > 0 ? argc - 1 : 0));
    for (auto& word : p.parse(args)) {
      (a.command.empty() ? a.command : a.positional.emplace_back()) = std::move(word);
    }
  } catch (const std::runtime_error& e) {
    error = e.what();
    return std::nullopt;
  }
  return a;
}

}  // namespace

std::optional<config::Config> load_or_report(const std::string& path, std::vector<delivery::ParsedSink>* sinks,
                                             bool print_warnings, std::string_view verdict) {
  auto res = config::load_config(path);
  // Sinks are parsed even when the rest has errors: every problem in one run.
  auto parsed = delivery::parse_sinks(res.config ? res.config->sinks : res.sinks, res.diagnostics);
  res.diagnostics.sort();
  for (const auto& d : res.diagnostics.all()) {
    if (d.warning && !print_warnings) continue;
    std::cerr << d.format() << "\n";
  }
  if (!res.config || res.diagnostics.has_errors()) {
    std::cerr << fmt::format("{}: {} error(s); {}\n", path, res.diagnostics.error_count(), verdict);
    return std::nullopt;
  }
  if (sinks) *sinks = std::move(parsed);
  return std::move(res.config);
}

const config::AppConfig* pick_app(const config::Config& cfg, const std::string& name) {
  if (cfg.apps.empty()) return nullptr;
  if (name.empty()) return &cfg.apps.front();
  for (const auto& a : cfg.apps)
    if (a.name == name) return &a;
  return nullptr;
}

void configure_logging(const config::Config& cfg) {
  log::configure(log::parse_level(cfg.log.level).value_or(log::Level::info),
                 log::parse_format(cfg.log.format).value_or(log::Format::logfmt));
  for (const auto& a : cfg.apps) log::add_secret(a.secret_key);
}

int cmd_check(const Args& a) {
  std::vector<delivery::ParsedSink> sinks;
  auto cfg = load_or_report(a.config, &sinks, true, "invalid");
  if (!cfg) return 2;
  std::cout << config::format_summary(*cfg);
  for (const auto& s : sinks) std::cout << fmt::format("  sink {}: {}\n", s.name, s.spec->describe());
  // What `run` checks at start, so that check (and `systemctl reload`)
  // fails where run would.
  if (auto problems = preflight(*cfg, sinks); !problems.empty()) {
    for (const auto& p : problems) std::cerr << p << "\n";
    std::cerr << fmt::format("{}: {} error(s); run would not start\n", a.config, problems.size());
    return 2;
  }
  std::cout << "config OK\n";
  return 0;
}

int cmd_usersig(const Args& a) {
  auto cfg = load_or_report(a.config, nullptr, false);
  if (!cfg) return 2;
  const auto* app = pick_app(*cfg, a.app);
  if (!app) {
    std::cerr << fmt::format("{}: no app named '{}'\n", a.config, a.app);
    return 2;
  }
  auto ttl = a.ttl.value_or(std::chrono::duration_cast<std::chrono::seconds>(app->usersig_ttl).count());
  auto now = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch());
  std::cout << tencent::make_usersig(app->secret_key, app->sdkappid, app->admin, ttl, now.count()) << "\n";
  return 0;
}

int main(int argc, char** argv) {
  // A closed pipe (ndjson to `-` piped into `head`) is a sink failure, seen
  // as EPIPE, never a reason to die.
  std::signal(SIGPIPE, SIG_IGN);
  std::string error;
  auto args = parse_args(argc, argv, error);
  if (!args) {
    std::cerr << "groupwatch: " << error << "\n\n" << usage_text;
    return 2;
  }
  const auto& a = *args;
  try {
    if (a.help && a.command.empty()) return cmd_help({});
    if (a.help && a.command != "help") return cmd_help({a.command});
    if (a.command == "help") return cmd_help(a.positional);
    if (a.command.empty()) {
      std::cerr << usage_text;
      return 2;
    }
    if (a.command == "version") {
      std::cout << "groupwatch " << GW_VERSION << "\n";
      return 0;
    }
    if (a.command == "check") return cmd_check(a);
    if (a.command == "usersig") return cmd_usersig(a);
    if (a.command == "run") return cmd_run(a.config);
    if (a.command == "once") return cmd_once(a.config, a.quiet);
    if (a.command == "discover") return cmd_discover(a.config, a.app);
    if (a.command == "query") {
      if (a.positional.empty()) {
        std::cerr << "groupwatch query: name at least one GROUP_ID\n";
        return 2;
      }
      return cmd_query(a.config, a.app, a.positional, a.verbose);
    }
  } catch (const std::exception& e) {
    std::cerr << "groupwatch: " << e.what() << "\n";
    return 1;
  }
  std::cerr << fmt::format("groupwatch: unknown command '{}'\n\n{}", a.command, usage_text);
  return 2;
}

}  // namespace groupwatch::app
