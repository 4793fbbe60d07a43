#pragma once
// systemd's notification protocol (Type=notify, the watchdog).

namespace groupwatch::app {

/// sd_notify(3) without libsystemd: one datagram to $NOTIFY_SOCKET. No-op
/// when not started by systemd.
void sd_notify(const char* state);

}  // namespace groupwatch::app
