#!/usr/bin/env bash
# The .deb under a real systemd 252: a clean Debian 12 booted with systemd-nspawn, the package
# installed with dpkg -i, the shipped config pointed at the emulator on the host, then start,
# results, reload, a bad reload, the watchdog, systemd-analyze security and stop.
#
#   tests/deploy/real/systemd.sh BUILD_DIR       (root; scripts/test --deploy runs it)
#
# Host quirks (no systemd as PID 1, no machined, no system bus): nspawn runs with
# --register=no --keep-unit, and commands go into the container with nsenter.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
deploy_paths systemd "$@"
ROOT=$W/root
EMU= NSPAWN= CT=
cleanup() {
  set +e
  [ -n "${GW_DEPLOY_KEEP:-}" ] && { echo "kept: container PID 1 = host PID $CT, emulator $EMU"; return; }
  [ -n "$CT" ] && nsenter -t "$CT" -a systemctl poweroff >/dev/null 2>&1
  if [ -n "$NSPAWN" ]; then
    for _ in $(seq 1 40); do kill -0 "$NSPAWN" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$NSPAWN" 2>/dev/null && kill -TERM "$NSPAWN"
    wait "$NSPAWN" 2>/dev/null
  fi
  [ -n "$EMU" ] && kill -TERM "$EMU" 2>/dev/null && wait "$EMU" 2>/dev/null
  grep -q " $ROOT" /proc/mounts && echo "WARNING: mounts left under $ROOT"
}
trap cleanup EXIT
in_ct() { nsenter -t "$CT" -a "$@"; }

stamp "the .deb (cpack)"
rm -rf "$W/deb" && mkdir -p "$W/deb"
(cd "$build" && cpack -G DEB -B "$W/deb" >/dev/null)
deb=$(ls "$W"/deb/groupwatch_*.deb)
# Exactly the package's Depends (names only), so a missing one fails dpkg -i or the start.
depends=$(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed 's/(.*)//; s/ //g' | paste -sd, -)

stamp "clean Debian 12 rootfs: minbase + systemd + the package's Depends"
rm -rf "$ROOT" && mkdir -p "$ROOT"
debian_tar "$W/rootfs.tar" --include="systemd,systemd-sysv,dbus,$depends"
tar -C "$ROOT" -xf "$W/rootfs.tar"
cp "$deb" "$ROOT/root/groupwatch.deb"
systemd-nspawn -q -D "$ROOT" --register=no --keep-unit dpkg -i /root/groupwatch.deb > "$W/dpkg.log" 2>&1 \
  || { cat "$W/dpkg.log"; fail "dpkg -i groupwatch.deb"; }
ok "dpkg -i of the .deb on a clean Debian 12"
gw_uid=$(awk -F: '$1 == "groupwatch" {print $3}' "$ROOT/etc/passwd")
check "the package made the groupwatch system user (uid ${gw_uid:-none})" test -n "$gw_uid" -a "${gw_uid:-0}" -lt 1000
check "and its empty, private key file" test "$(stat -c '%a %u %s' "$ROOT/etc/groupwatch/secret_key")" = "600 $gw_uid 0"

port=$(free_port)
admin=127.0.0.1:$(free_port)
key=deploy-test-key-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
stamp "emulator on the host's 127.0.0.1:$port (the container shares the host network)"
echo "$key" > "$W/key"
"$build/groupwatch-emulator" --listen="127.0.0.1:$port" --write-ca="$W/ca.pem" \
  --secret-key-file="$W/key" --qps=200 > "$W/emulator.out" 2>&1 &
EMU=$!
wait_until 10 test -s "$W/ca.pem" || fail "emulator did not start"

stamp "the shipped config, its region replaced by the emulator and its 4m cycle by 12s (its 6 groups"
stamp "would otherwise be 40 s apart); the key in /etc/groupwatch/secret_key"
cfg=$ROOT/etc/groupwatch/groupwatch.yaml
grep -q '^    region: singapore' "$cfg" || fail "the shipped config names no region line to replace"
grep -q '^  interval: 4m' "$cfg" || fail "the shipped config names no interval line to replace"
sed -i -e "s|^    region: singapore.*|    endpoint: https://127.0.0.1:$port\n    ca_file: emulator-ca.pem|" \
  -e "s|^  interval: 4m|  interval: 12s|" "$cfg"
install -m 0644 "$W/ca.pem" "$ROOT/etc/groupwatch/emulator-ca.pem"
printf '%s' "$key" > "$ROOT/etc/groupwatch/secret_key"
echo "GW_ADMIN_LISTEN=$admin" >> "$ROOT/etc/groupwatch/groupwatch.env"

stamp "boot: systemd-nspawn --boot"
systemd-nspawn -D "$ROOT" --boot --machine=gw-deploy --register=no --keep-unit > "$W/boot.log" 2>&1 < /dev/null &
NSPAWN=$!
booted() {
  CT=$(pgrep -P "$NSPAWN" | head -1 || true)
  [ -n "$CT" ] || return 1
  case "$(in_ct systemctl is-system-running 2>/dev/null || true)" in running | degraded) return 0 ;; esac
  return 1
}
wait_until 60 booted || { tail -20 "$W/boot.log"; fail "the container did not boot"; }
booted
stamp "booted (container PID 1 = host PID $CT)"

stamp "systemctl start groupwatch"
in_ct systemctl start groupwatch || { in_ct journalctl -u groupwatch -o cat --no-pager | tail -20; fail "start"; }
check "active (running) after start" test "$(in_ct systemctl show -p SubState --value groupwatch)" = running
wait_until 20 results_above "$admin" 0 || { in_ct journalctl -u groupwatch -o cat --no-pager | tail; fail "results"; }
ok "results arrive: groupwatch_results_total=$(results_total "$admin")"
uid=$(in_ct sh -c 'awk "/^Uid:/ {print \$2}" /proc/$(systemctl show -p MainPID --value groupwatch)/status')
check "runs as the groupwatch user (uid $uid), not root" test "$uid" = "$(in_ct id -u groupwatch)" -a "$uid" -ne 0
check "state in /var/lib/groupwatch (SQLite)" wait_until 15 in_ct test -s /var/lib/groupwatch/groupwatch.db
pid=$(in_ct systemctl show -p MainPID --value groupwatch)

stamp "systemctl reload groupwatch"
in_ct systemctl reload groupwatch || { in_ct journalctl -u groupwatch -o cat --no-pager | tail -8; fail "reload"; }
check "reload logged config.reload" wait_until 10 sh -c \
  "nsenter -t $CT -a journalctl -u groupwatch -o cat --no-pager | grep -q 'event=config.reload'"
check "same process after reload" test "$(in_ct systemctl show -p MainPID --value groupwatch)" = "$pid"

stamp "reload with a bad config fails and keeps the daemon"
cp "$cfg" "$W/good.yaml"
echo "bogus_key: 1" >> "$cfg"
if in_ct systemctl reload groupwatch >/dev/null 2>&1; then fail "a bad config reloaded"; fi
ok "systemctl reload failed on the bad config"
check "still active, same process" test "$(in_ct systemctl show -p MainPID --value groupwatch)" = "$pid"
check "the journal names the bad key" sh -c \
  "nsenter -t $CT -a journalctl -u groupwatch -o cat --no-pager | grep -q bogus_key"
cp "$W/good.yaml" "$cfg"

stamp "watchdog: SIGSTOP the daemon, expect a kill and a restart (WatchdogSec=30s, RestartSec=5s)"
in_ct sh -c "kill -STOP $pid"  # the shell's kill: procps is not installed
restarted() {
  [ "$(in_ct systemctl show -p NRestarts --value groupwatch)" -ge 1 ] &&
    [ "$(in_ct systemctl show -p SubState --value groupwatch)" = running ]
}
wait_until 75 restarted || fail "no watchdog restart within 75 s"
ok "watchdog restarted it (NRestarts=$(in_ct systemctl show -p NRestarts --value groupwatch))"
before=$(results_total "$admin")
check "results again after the restart" wait_until 20 results_above "$admin" "$before"

stamp "systemd-analyze security (inside)"
exposure=$(in_ct systemd-analyze security groupwatch --no-pager | sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p')
check "exposure $exposure <= 1.5" awk -v e="$exposure" 'BEGIN {exit !(e != "" && e <= 1.5)}'

stamp "systemctl stop groupwatch"
in_ct systemctl stop groupwatch
check "stopped cleanly (Result=success, status 0)" test \
  "$(in_ct systemctl show -p Result -p ExecMainStatus --value groupwatch | paste -sd' ')" = "success 0"
check "the journal says every result was delivered" sh -c \
  "nsenter -t $CT -a journalctl -u groupwatch -o cat --no-pager | tail -5 | grep -q 'every result delivered'"
stamp "systemd deploy test passed"
