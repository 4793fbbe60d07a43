#!/usr/bin/env python3
"""Polling at the cap while a sink is down and its spool fills and compacts.

  bench/cap_sink_down.py [--build DIR] [--seconds N]

Runs groupwatch-emulator (cap 200 qps, 3,000 groups) and `groupwatch run`
(interval 10 s: a backlog, so the daemon polls at its cap) twice in one run:
  A: one ndjson sink to /dev/null (the anchor),
  B: the same plus a PostgreSQL sink pointed at a closed port, so every write
     fails and the results go to a 1 MiB spool that keeps compacting.
Reports, for each: requests per second at the emulator (mean, lowest and
highest full second after warm-up), the emulator's max_window and 60007
count, and the event loop's lag (p50/p99/max over the last minute, from
/metrics), then B's rate as a share of A's. Loopback only; every process is
stopped by PID.
"""
import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def metrics(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    out = {}
    for line in text.splitlines():
        if line.startswith("groupwatch_loop_lag_seconds{"):
            q = line.split('quantile="')[1].split('"')[0]
            out[q] = float(line.rsplit(" ", 1)[1])
    return out


def one_run(build, seconds, failing_sink, tmp):
    d = tempfile.mkdtemp(dir=tmp)
    port, admin = free_port(), free_port()
    reqlog = os.path.join(d, "requests.jsonl")
    groups = os.path.join(d, "groups.txt")
    ca = os.path.join(d, "ca.pem")
    emu = subprocess.Popen([os.path.join(build, "groupwatch-emulator"), "--listen", f"127.0.0.1:{port}", "--qps", "200",
                            "--groups", "3000", "--write-groups", groups, "--write-ca", ca, "--request-log", reqlog],
                           stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "emu.err"), "w"))
    try:
        for _ in range(100):
            if os.path.exists(groups) and os.path.exists(ca):
                break
            time.sleep(0.05)
        time.sleep(0.3)
        sinks = "  - type: ndjson\n    path: /dev/null\n"
        if failing_sink:
            sinks += ("  - type: postgres\n    dsn: \"host=127.0.0.1 port=1 dbname=x connect_timeout=1\"\n"
                      "    spool_max_bytes: 1MiB\n    when_full: drop_oldest\n")
        cfg = os.path.join(d, "gw.yaml")
        open(cfg, "w").write(f"""apps:
  - name: bench
    sdkappid: 1400000001
    admin: administrator
    secret_key: demo-secret-key-0123456789abcdef
    endpoint: https://127.0.0.1:{port}
    ca_file: {ca}
    group_files: [{groups}]
poll:
  interval: 10s
admin:
  listen: 127.0.0.1:{admin}
state_dir: {d}/state
sinks:
{sinks}""")
        gw = subprocess.Popen([os.path.join(build, "groupwatch"), "run", "--config", cfg],
                              stdout=subprocess.DEVNULL, stderr=open(os.path.join(d, "gw.err"), "w"))
        try:
            time.sleep(seconds)
            lag = metrics(admin)
        finally:
            gw.send_signal(signal.SIGTERM)
            gw.wait(timeout=30)
        stats = json.loads(urllib.request.urlopen(
            urllib.request.Request(f"https://127.0.0.1:{port}/_emulator/stats"),
            context=__import__("ssl")._create_unverified_context(), timeout=5).read())
    finally:
        emu.send_signal(signal.SIGTERM)
        emu.wait(timeout=30)
    per_second = {}
    for line in open(reqlog):
        try:
            t = json.loads(line)["time"]
        except (ValueError, KeyError):
            continue
        sec = t[:19]  # RFC 3339 to the second: sorts as text
        per_second[sec] = per_second.get(sec, 0) + 1
    secs = sorted(per_second)[4:-2]  # skip warm-up and the partial last seconds
    counts = [per_second[s] for s in secs]
    app = stats.get("apps", {}).get("1400000001", {})
    return {
        "mean": sum(counts) / len(counts), "min": min(counts), "max": max(counts),
        "max_window": app.get("max_window"), "codes_60007": stats.get("codes", {}).get("60007", 0),
        "lag": lag, "spool": failing_sink,
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build")
    ap.add_argument("--seconds", type=int, default=40)
    a = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="gw-bench-")
    try:
        base = one_run(a.build, a.seconds, False, tmp)
        down = one_run(a.build, a.seconds, True, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    for name, r in (("A ndjson only", base), ("B + failing postgres, spooling", down)):
        print(f"{name}: {r['mean']:.1f} req/s (lowest second {r['min']}, highest {r['max']}), "
              f"max_window {r['max_window']}, 60007 {r['codes_60007']}, loop lag p50 {r['lag'].get('0.5', 0)*1e3:.2f} ms "
              f"p99 {r['lag'].get('0.99', 0)*1e3:.2f} ms max {r['lag'].get('1', 0)*1e3:.2f} ms")
    print(f"B/A rate: {down['mean'] / base['mean']:.4f}; B's lowest second / cap: {down['min'] / 200:.3f}")
    os.makedirs("bench/results", exist_ok=True)
    with open("bench/results/cap_sink_down.json", "w") as f:
        json.dump({"anchor": base, "sink_down": down}, f, indent=1)


if __name__ == "__main__":
    main()
