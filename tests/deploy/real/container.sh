#!/usr/bin/env bash
# The container image under a real engine (Debian 12's docker.io, dockerd started by hand) and
# deploy/docker/compose.yaml under Debian 12's docker-compose 1.29.
#
#   tests/deploy/real/container.sh BUILD_DIR      (root; scripts/test --deploy runs it)
#
# The image is the Dockerfile's runtime stage with the host's built binaries copied in (the
# build stage compiles the same sources with the same Debian packages; compiling again here
# would take about 4.5 minutes). Host quirks: no systemd, no iptables: dockerd runs with
# --iptables=false --bridge=none, so containers use the host network (the compose file's own
# networks work through docker-proxy); the base image comes from mmdebstrap (no registry).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
deploy_paths container "$@"
D=/usr/bin/docker  # docker.io's client (PATH may hold another)
export DOCKER_HOST=unix://$W/docker.sock DOCKER_BUILDKIT=0
DPID=
cleanup() {
  set +e
  if [ -n "$DPID" ]; then
    docker-compose -p gwdeploy -f "$src/deploy/docker/compose.yaml" down -v >/dev/null 2>&1
    $D rm -f gw-emu gw >/dev/null 2>&1
    $D volume rm -f gw-emu gw-state >/dev/null 2>&1
    kill -TERM "$DPID" && wait "$DPID" 2>/dev/null
  fi
  unmount_under "$W"
}
# dockerd leaves its network namespace mounted under its exec root (exec/netns/default).
unmount_under() {
  { grep -o " $1/[^ ]*" /proc/mounts || true; } | sort -r | while read -r m; do umount "$m" 2>/dev/null || umount -l "$m"; done
}
trap cleanup EXIT
unmount_under "$W"  # what an interrupted earlier run left

stamp "dockerd (data under $W)"
mkdir -p "$W/docker" "$W/exec"
/usr/sbin/dockerd --data-root "$W/docker" --exec-root "$W/exec" -H "$DOCKER_HOST" --pidfile "$W/docker.pid" \
  --iptables=false --ip-forward=false --bridge=none --storage-driver=overlay2 > "$W/dockerd.log" 2>&1 &
DPID=$!
wait_until 30 $D version || { tail -20 "$W/dockerd.log"; fail "dockerd did not start"; }

stamp "base image debian:12-slim from mmdebstrap"
debian_tar "$W/debian12.tar"
$D import --change 'CMD ["bash"]' "$W/debian12.tar" debian:12 >/dev/null
$D tag debian:12 debian:12-slim

stamp "image: the Dockerfile's runtime stage with the host's binaries"
ctx=$W/context
rm -rf "$ctx" && mkdir -p "$ctx/config"
awk '/^FROM debian:12-slim/ {p = 1} p' "$src/deploy/docker/Dockerfile" |
  sed 's|^COPY --from=build /build/groupwatch /build/groupwatch-emulator /usr/bin/|COPY groupwatch groupwatch-emulator /usr/bin/|' \
  > "$ctx/Dockerfile"
grep -q '^COPY groupwatch groupwatch-emulator /usr/bin/' "$ctx/Dockerfile" ||
  fail "the Dockerfile's runtime stage no longer copies the binaries from the build stage as expected"
strip -o "$ctx/groupwatch" "$build/groupwatch"
strip -o "$ctx/groupwatch-emulator" "$build/groupwatch-emulator"
cp -r "$src/config/groupwatch.yaml" "$src/config/watchlists" "$ctx/config/"
b0=$(date +%s)
$D build --network=host -t groupwatch:local "$ctx" > "$W/build.log" 2>&1 || { tail -30 "$W/build.log"; fail "build"; }
ok "image built in $(( $(date +%s) - b0 ))s, $($D image inspect groupwatch:local --format '{{.Size}}') bytes"

port=$(free_port)
admin=127.0.0.1:$(free_port)
key=deploy-test-key-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
stamp "emulator from the image on 127.0.0.1:$port"
$D run -d --name gw-emu --network=host -v gw-emu:/var/lib/groupwatch --entrypoint /usr/bin/groupwatch-emulator \
  groupwatch:local --listen="127.0.0.1:$port" --write-ca=/var/lib/groupwatch/ca.pem \
  --secret-key="$key" --qps=200 >/dev/null
wait_until 20 $D exec gw-emu test -s /var/lib/groupwatch/ca.pem || fail "emulator did not start"

stamp "groupwatch: the image's own config (region -> emulator, 4m -> 12s), read-only root filesystem"
$D run --rm --entrypoint cat groupwatch:local /etc/groupwatch/groupwatch.yaml |
  sed -e "s|^    region: singapore.*|    endpoint: https://127.0.0.1:$port\n    ca_file: /emulator/ca.pem|" \
    -e "s|^  interval: 4m|  interval: 12s|" > "$W/groupwatch.yaml"
grep -q "^    endpoint: https://127.0.0.1:$port" "$W/groupwatch.yaml" || fail "the image's config names no region to replace"
grep -q "^  interval: 12s" "$W/groupwatch.yaml" || fail "the image's config names no interval to replace"
printf '%s' "$key" > "$W/secret_key"
chown 10001:10001 "$W/secret_key" && chmod 0400 "$W/secret_key"
$D run -d --name gw --network=host --read-only -e GW_ADMIN_LISTEN="$admin" --health-interval=2s \
  --health-start-period=0s -v "$W/groupwatch.yaml:/etc/groupwatch/groupwatch.yaml:ro" \
  -v "$W/secret_key:/etc/groupwatch/secret_key:ro" -v gw-emu:/emulator:ro -v gw-state:/var/lib/groupwatch \
  groupwatch:local >/dev/null
wait_until 20 results_above "$admin" 0 || { $D logs gw 2>&1 | tail; fail "results"; }
ok "results arrive: groupwatch_results_total=$(results_total "$admin")"
health() { [ "$($D inspect gw --format '{{.State.Health.Status}}')" = "$1" ]; }
check "the image's HEALTHCHECK says healthy" wait_until 30 health healthy
check "runs as uid 10001, not root" test "$($D exec gw id -u)" = 10001
# /var/tmp is writable by anyone (1777): only a read-only root filesystem refuses this.
check "the root filesystem is read-only" sh -c "! $D exec gw touch /var/tmp/x 2>/dev/null"
check "SQLite in the state volume" wait_until 15 $D exec gw test -s /var/lib/groupwatch/groupwatch.db

stamp "docker stop: SIGTERM, exit 0 within the grace (poll.grace 10s)"
s0=$(date +%s)
$D stop -t 30 gw >/dev/null
took=$(( $(date +%s) - s0 ))
check "exit code 0" test "$($D inspect gw --format '{{.State.ExitCode}}')" = 0
check "stopped in ${took}s (<= 12)" test "$took" -le 12
check "the last log line says every result was delivered" sh -c "$D logs gw 2>&1 | tail -1 | grep -q 'every result delivered'"
$D rm -f gw gw-emu >/dev/null

stamp "compose: docker-compose $(docker-compose version --short) up emulator + groupwatch (no registry: no prometheus, grafana)"
export TIM_SECRET_KEY=$key
docker-compose -p gwdeploy -f "$src/deploy/docker/compose.yaml" up -d --no-build emulator groupwatch > "$W/compose.log" 2>&1 ||
  { cat "$W/compose.log"; fail "compose up"; }
wait_until 30 results_above 127.0.0.1:9108 0 || { docker-compose -p gwdeploy -f "$src/deploy/docker/compose.yaml" logs | tail; fail "compose results"; }
ok "compose: results on the published admin port 9108"
cid=$(docker-compose -p gwdeploy -f "$src/deploy/docker/compose.yaml" ps -q groupwatch)
chealth() { [ "$($D inspect "$cid" --format '{{.State.Health.Status}}')" = healthy ]; }
check "compose: groupwatch healthy (HEALTHCHECK: start period 30s, interval 30s)" wait_until 90 chealth
docker-compose -p gwdeploy -f "$src/deploy/docker/compose.yaml" down -v >/dev/null 2>&1
stamp "container deploy test passed"
