// `groupwatch help config`: every key with its default, from config.hpp's
// defaults so the text cannot drift from what the parser applies.
#include <iostream>

#include <fmt/format.h>

#include "app/commands.hpp"
#include "groupwatch/delivery/sink.hpp"
#include "groupwatch/util/text.hpp"

namespace groupwatch::app {

int cmd_help_config() {
  config::Config c;
  config::AppConfig a;
  delivery::DeliveryOptions d;
  std::cout << "groupwatch config keys (YAML; ${NAME} and ${NAME:-default} read the environment)\n\n";
  std::cout
      << "apps:                  list, one entry per SDKAppID\n"
         "  name                  label in every output (required, unique)\n"
         "  sdkappid              the app's SDKAppID (required)\n"
         "  admin                 an App Administrator identifier (required)\n"
         "  secret_key            the app's key (or secret_key_file; exactly one)\n"
         "  secret_key_file       file holding the key (relative to the config file); group/world-readable is a\n"
         "                        warning, an error with strict_permissions\n"
         "  region                china|singapore|seoul|tokyo|frankfurt|mumbai|silicon-valley|jakarta|riyadh\n"
         "  endpoint              instead of region: any https:// base URL\n"
         "  ca_file               extra PEM trust anchors (system roots stay trusted)\n"
      << fmt::format("  qps                   this app's cap (default {}; above 200 only for non-vendor endpoints)\n",
                     a.qps)
      << fmt::format("  usersig_ttl           lifetime of generated UserSigs (default {})\n",
                     format_duration(a.usersig_ttl))
      << fmt::format("  tls_verify            verify the server certificate (default {})\n", a.tls_verify)
      << "  groups                inline list of group IDs or {id, name, labels} mappings\n"
         "  group_files           watchlist files: .yaml/.yml lists (IDs or {id, name, labels}) or text, one ID a\n"
         "                        line, '#' comments (at most 2,000,000 IDs per file, lines up to 4096 bytes)\n"
         "  discover              list the app's groups from the vendor instead of (or besides) naming them:\n"
      << fmt::format("    every               list again this often (default {}; at least 5s)\n",
                     format_duration(config::DiscoverConfig{}.every))
      << "    types               group types to keep (default [Community]; also Public, Private, ChatRoom,\n"
         "                        AVChatRoom)\n"
         "    include             glob patterns on the group ID or name (default [\"*\"])\n"
         "    exclude             glob patterns to leave out (default none)\n"
      << "poll:\n"
      << fmt::format("  interval              the refresh cycle (default {})\n", format_duration(c.poll.interval))
      << fmt::format("  timeout               one request, connect to last byte (default {})\n",
                     format_duration(c.poll.timeout))
      << fmt::format("  connections           most connections (and requests in flight) per app (default {})\n",
                     c.poll.connections)
      << fmt::format("  retries               extra tries for transient failures within a cycle (default {})\n",
                     c.poll.retries)
      << "  max_qps               optional cap across all apps\n"
      << fmt::format("  recheck               parked groups are asked again after this (default {})\n",
                     format_duration(c.poll.recheck))
      << fmt::format("  grace                 shutdown grace period (default {})\n", format_duration(c.poll.grace))
      << "admin:\n  listen                host:port for /metrics, /healthz, /readyz and the status page (off when "
         "absent)\n"
      << fmt::format("  sink_failing_after    /readyz answers 503 once a sink has failed this long (default {})\n",
                     format_duration(c.admin.sink_failing_after))
      << "cluster:                optional: share the apps with other instances, each SDKAppID polled by one\n"
         "  etcd                  etcd v3 endpoints, http://HOST:PORT (required)\n"
         "  prefix                every key lives under it (default /groupwatch)\n"
         "  name                  this instance, unique in the cluster (default: the host name)\n"
      << fmt::format(
             "  lease                 lease TTL; an instance that cannot renew stops sending before it "
             "lapses (default {}, at least 2s)\n",
             format_duration(config::ClusterConfig{}.lease))
      << fmt::format("log:\n  level                 debug|info|warn|error (default {})\n", c.log.level)
      << fmt::format("  format                logfmt|json (default {})\n", c.log.format)
      << fmt::format("state_dir               spools, the lock, and relative sink paths (default {})\n", c.state_dir)
      << fmt::format("strict_permissions      refuse readable secret_key_files (default {})\n", c.strict_permissions)
      << "sinks:                  list; every result goes to every sink\n"
         "  type                  one of:";
  for (auto t : delivery::sink_types()) std::cout << " " << t;
  std::cout << "\n"
            << fmt::format("  batch_size            results per write (default {})\n", d.batch_size)
            << fmt::format("  flush_interval        oldest result waits at most this (default {})\n",
                           format_duration(d.flush_interval))
            << fmt::format("  queue_size            results held in memory before spooling (default {})\n",
                           d.queue_size)
            << fmt::format("  spool_max_bytes       on-disk spool cap per sink (default {} bytes)\n", d.spool_max_bytes)
            << "  when_full             drop_oldest|drop_newest at the spool cap (default drop_oldest)\n"
            << fmt::format("  retry_min, retry_max  backoff while a sink is down (default {}..{})\n",
                           format_duration(d.retry_min), format_duration(d.retry_max));
  for (auto t : delivery::sink_types()) {
    if (const auto* f = delivery::find_sink(t)) std::cout << fmt::format("  [{}] {}\n", t, f->summary);
  }
  return 0;
}

int cmd_help_sink(const std::string& type) {
  const auto* f = delivery::find_sink(type);
  if (f == nullptr) {
    if (!type.empty()) std::cerr << fmt::format("groupwatch: unknown sink type '{}'\n", type);
    auto& out = type.empty() ? std::cout : std::cerr;
    out << "sink types (groupwatch help sink TYPE for one type's keys):\n";
    for (auto t : delivery::sink_types()) {
      if (const auto* g = delivery::find_sink(t)) out << fmt::format("  {:<12}{}\n", t, g->summary);
    }
    return type.empty() ? 0 : 2;
  }
  // The keys come from running the parser itself; the help text from the
  // sink's own table. A key without text still shows (tests forbid that).
  const auto keys = delivery::sink_keys(type);
  auto text_of = [&](const std::string& k) -> std::string {
    for (const auto& h : f->keys)
      if (h.key == k) return std::string(h.text);
    return "(undocumented)";
  };
  std::cout << fmt::format("sink type {}: {}\n\n  {:<18}{}\n", type, f->summary, "type", type);
  for (const auto& k : keys.own) std::cout << fmt::format("  {:<18}{}\n", k, text_of(k));
  std::cout << "\ndelivery keys (every sink):\n";
  for (const auto& [k, t] : delivery::delivery_key_help()) std::cout << fmt::format("  {:<18}{}\n", k, t);
  return 0;
}

}  // namespace groupwatch::app
