# Shared by the real deploy tests (sourced): timing, checks, ports and the Debian 12 base.
# Each test prints "[Ns] step" lines and "ok: ..." for each check; the first failed check
# prints "FAIL: ..." and exits 1 (the EXIT trap cleans up).

# deploy_paths NAME "$@": what every real deploy test starts from: src (the checkout), build
# (its BUILD_DIR argument, required) and W (its work directory, made here).
# shellcheck disable=SC2034  # src, build and W are for the script that sources this
deploy_paths() {
  local name=$1; shift
  src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
  build=$(cd "${1:?usage: $name.sh BUILD_DIR}" && pwd)
  W=${GW_DEPLOY_WORK:-/var/tmp/groupwatch-deploy}/$name
  mkdir -p "$W"
}

T0=$(date +%s)
stamp() { echo "[$(( $(date +%s) - T0 ))s] $*"; }
ok() { echo "ok: $*"; }
fail() { echo "FAIL: $*" >&2; exit 1; }
check() {  # check "what" command...
  local what=$1; shift
  if "$@"; then ok "$what"; else fail "$what"; fi
}

# A free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_until SECONDS command...: polls every 0.5 s.
wait_until() {
  local limit=$1; shift
  local end=$(( $(date +%s) + limit ))
  while [ "$(date +%s)" -lt "$end" ]; do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  return 1
}

# groupwatch_results_total from an admin endpoint (0 when unreachable).
results_total() {
  curl -fsS -m 3 "http://$1/metrics" 2>/dev/null | awk '/^groupwatch_results_total/ {s += $2} END {print s + 0}'
}
results_above() { [ "$(results_total "$1")" -gt "$2" ]; }

# Debian 12 from the host's configured mirror (no image registry is reachable), cached in $W.
debian_tar() {
  local tar=$1; shift
  [ -s "$tar" ] && return 0
  local sources=/etc/apt/sources.list.d/debian.sources
  [ -f "$sources" ] || sources=/etc/apt/sources.list
  mmdebstrap --quiet --variant=minbase --format=tar "$@" bookworm "$tar.part" "$sources"
  mv "$tar.part" "$tar"
}
