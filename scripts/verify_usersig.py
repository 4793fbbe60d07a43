#!/usr/bin/env python3
"""Independent check of a TLSSigAPIv2 UserSig (Python 3 standard library only).

Reads the UserSig on stdin, decodes it (url-safe base64 with * - _, zlib,
JSON), recomputes the HMAC-SHA256 as documented in docs/tencent-api.md and
exits 0 when it matches the key, identifier and sdkappid and is unexpired.
Otherwise prints why (never the key or the UserSig) and exits 1.

  groupwatch usersig --config c.yaml | scripts/verify_usersig.py --key "$KEY" --sdkappid 1400000001 --identifier administrator
"""
import argparse
import base64
import binascii
import hashlib
import hmac
import json
import sys
import time
import zlib


def fail(reason):
    print(f"invalid UserSig: {reason}", file=sys.stderr)
    return 1


def check(sig_text, key, sdkappid, identifier, now):
    if not sig_text:
        return fail("empty input")
    if any(c in sig_text for c in "+/="):
        return fail("not url-safe base64 (contains + / or =)")
    std_b64 = sig_text.translate(str.maketrans("*-_", "+/="))
    try:
        raw = base64.b64decode(std_b64, validate=True)
    except (binascii.Error, ValueError) as e:
        return fail(f"not base64 ({e})")
    try:
        text = zlib.decompress(raw)
    except zlib.error as e:
        return fail(f"does not inflate ({e})")
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        return fail(f"not JSON ({e})")
    if not isinstance(doc, dict):
        return fail("JSON is not an object")

    def field(name, kind):
        v = doc.get(name)
        if kind is int and (isinstance(v, bool) or not isinstance(v, int)):
            raise ValueError(f"{name} missing or not a JSON integer")
        if kind is str and not isinstance(v, str):
            raise ValueError(f"{name} missing or not a string")
        return v

    try:
        ver = field("TLS.ver", str)
        ident = field("TLS.identifier", str)
        appid = field("TLS.sdkappid", int)
        t = field("TLS.time", int)
        expire = field("TLS.expire", int)
        sig = field("TLS.sig", str)
        userbuf = doc.get("TLS.userbuf")
        if userbuf is not None and not isinstance(userbuf, str):
            raise ValueError("TLS.userbuf is not a string")
    except ValueError as e:
        return fail(str(e))
    if ver != "2.0":
        return fail(f"TLS.ver is {ver!r}, not '2.0'")

    content = (f"TLS.identifier:{ident}\nTLS.sdkappid:{appid}\n"
               f"TLS.time:{t}\nTLS.expire:{expire}\n")
    if userbuf is not None:
        content += f"TLS.userbuf:{userbuf}\n"
    mac = hmac.new(key.encode("utf-8"), content.encode("utf-8"), hashlib.sha256).digest()
    expected = base64.b64encode(mac).decode("ascii")
    if not hmac.compare_digest(expected, sig):
        return fail("signature does not match the key")
    if ident != identifier:
        return fail(f"made for identifier {ident!r}, expected {identifier!r}")
    if appid != sdkappid:
        return fail(f"made for sdkappid {appid}, expected {sdkappid}")
    if t + expire < now:
        return fail(f"expired {now - (t + expire)} s ago")
    print(f"ok: identifier={ident} sdkappid={appid} valid for {t + expire - now} s more")
    return 0


def main():
    p = argparse.ArgumentParser(description="Verify a TLSSigAPIv2 UserSig read from stdin.")
    p.add_argument("--key", required=True, help="the app's secret key")
    p.add_argument("--sdkappid", required=True, type=int)
    p.add_argument("--identifier", required=True)
    p.add_argument("--now", type=int, default=None, help="Unix time to check expiry against (default: now)")
    a = p.parse_args()
    sig_text = sys.stdin.read().strip()
    now = a.now if a.now is not None else int(time.time())
    return check(sig_text, a.key, a.sdkappid, a.identifier, now)


if __name__ == "__main__":
    sys.exit(main())
