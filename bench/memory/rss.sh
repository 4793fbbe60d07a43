#!/bin/bash
# VmRSS (kB) of `groupwatch run` 3 s after its "polling" line, watching the
# groups in $1 (text or YAML watchlist), interval 24h (idle).
# Needs an emulator: groupwatch-emulator --listen 127.0.0.1:18998 --accept-any-group --write-ca CA
# Env: GW_BIN (default build/groupwatch), CA (default /tmp/memt/ca.pem).
set -eu
f=$1; d=$(mktemp -d)
bin=${GW_BIN:-build/groupwatch}
cat > "$d/c.yaml" <<Y
apps:
  - name: m
    sdkappid: 1400000001
    admin: administrator
    secret_key: demo-secret-key-0123456789abcdef
    endpoint: https://127.0.0.1:18998
    ca_file: ${CA:-/tmp/memt/ca.pem}
    group_files: [$f]
poll: {interval: 24h}
state_dir: $d/state
sinks:
  - {type: ndjson, path: $d/out.ndjson}
Y
"$bin" run --config "$d/c.yaml" 2> "$d/err" &
pid=$!
for _ in $(seq 1 200); do grep -q 'msg="polling"' "$d/err" && break; sleep 0.1; done
sleep 3
awk '/VmRSS/ {print $2}' "/proc/$pid/status"
kill "$pid"; wait "$pid" 2>/dev/null || true
rm -rf "$d"
