#pragma once
// Every log event name, in one place, so operators and code agree on them
// (grep for the constant, not the string). Names are `area.what`.
#include <string_view>

namespace groupwatch::events {

// Configuration
inline constexpr std::string_view config_loaded = "config.loaded";
inline constexpr std::string_view config_invalid = "config.invalid";
inline constexpr std::string_view config_reload = "config.reload";
inline constexpr std::string_view config_reload_failed = "config.reload_failed";

// The daemon's local door (state_dir lock, control socket)
inline constexpr std::string_view state_locked = "state.locked";
inline constexpr std::string_view control_ask = "control.ask";
inline constexpr std::string_view control_failed = "control.failed";

// One app (SDKAppID) and its polling
inline constexpr std::string_view app_started = "app.started";
inline constexpr std::string_view app_stopped = "app.stopped";
inline constexpr std::string_view app_paused = "app.paused";
inline constexpr std::string_view app_resumed = "app.resumed";
inline constexpr std::string_view app_rate_lowered = "app.rate_lowered";
inline constexpr std::string_view app_rate_recovered = "app.rate_recovered";
inline constexpr std::string_view poll_start = "poll.start";
inline constexpr std::string_view poll_error = "poll.error";
inline constexpr std::string_view cycle_overrun = "cycle.overrun";
inline constexpr std::string_view clock_step = "clock.step";
inline constexpr std::string_view cycle_done = "cycle.done";
inline constexpr std::string_view group_parked = "group.parked";
inline constexpr std::string_view discovery_listed = "discovery.listed";
inline constexpr std::string_view discovery_failed = "discovery.failed";
inline constexpr std::string_view answer_invalid = "answer.invalid";

// Sinks
inline constexpr std::string_view sink_failed = "sink.failed";
inline constexpr std::string_view sink_recovered = "sink.recovered";
inline constexpr std::string_view sink_spooled = "sink.spooled";
inline constexpr std::string_view sink_dropped = "sink.dropped";

// Credentials and transport
inline constexpr std::string_view usersig_renewed = "usersig.renewed";
inline constexpr std::string_view usersig_rejected = "usersig.rejected";
inline constexpr std::string_view tls_verify_disabled = "tls.verify_disabled";
inline constexpr std::string_view http_error = "http.error";

// Process lifecycle
inline constexpr std::string_view shutdown_begin = "shutdown.begin";
inline constexpr std::string_view shutdown_done = "shutdown.done";
inline constexpr std::string_view admin_listening = "admin.listening";
inline constexpr std::string_view emulator_listening = "emulator.listening";
// Cluster (several instances on etcd)
inline constexpr std::string_view cluster_joined = "cluster.joined";
inline constexpr std::string_view cluster_name_taken = "cluster.name_taken";
inline constexpr std::string_view cluster_acquired = "cluster.acquired";
inline constexpr std::string_view cluster_released = "cluster.released";
inline constexpr std::string_view cluster_lost = "cluster.lost";
inline constexpr std::string_view cluster_unreachable = "cluster.unreachable";
inline constexpr std::string_view cluster_reachable = "cluster.reachable";
inline constexpr std::string_view cluster_left = "cluster.left";
inline constexpr std::string_view task_failed = "task.failed";  // a coroutine ended by an exception

}  // namespace groupwatch::events
