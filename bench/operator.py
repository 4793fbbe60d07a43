#!/usr/bin/env python3
"""The "operator script" baseline: what an operator might write with only the
Python standard library. N threads, one keep-alive HTTPS connection each, one
POST per group, one NDJSON line per result. No rate limiting, no retries."""
import argparse
import http.client
import json
import random
import ssl
import threading
import time

PATH = "/v4/million_group_open_http_svc/get_online_member_num"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--usersig", required=True)
    ap.add_argument("--groups", required=True)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    groups = [line.strip() for line in open(a.groups) if line.strip() and not line.startswith("#")]
    ctx = ssl.create_default_context(cafile=a.ca)
    lock = threading.Lock()
    out = open(a.out, "w")
    it = iter(groups)

    def worker():
        conn = http.client.HTTPSConnection(a.host, a.port, context=ctx, timeout=5)
        while True:
            with lock:
                gid = next(it, None)
            if gid is None:
                break
            q = (f"{PATH}?sdkappid=1400000001&identifier=administrator&usersig={a.usersig}"
                 f"&random={random.getrandbits(32)}&contenttype=json")
            try:
                conn.request("POST", q, body=json.dumps({"GroupId": gid}),
                             headers={"Content-Type": "application/json"})
                ans = json.loads(conn.getresponse().read())
                rec = {"time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "group_id": gid,
                       "online_member_num": ans.get("OnlineMemberNum"), "error_code": ans.get("ErrorCode"),
                       "error_info": ans.get("ErrorInfo")}
            except Exception as e:  # noqa: BLE001 - the baseline records and goes on
                conn.close()
                conn = http.client.HTTPSConnection(a.host, a.port, context=ctx, timeout=5)
                rec = {"group_id": gid, "online_member_num": None, "error_code": -1, "error_info": str(e)}
            line = json.dumps(rec) + "\n"
            with lock:
                out.write(line)
        conn.close()

    threads = [threading.Thread(target=worker) for _ in range(a.threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out.close()


if __name__ == "__main__":
    main()
