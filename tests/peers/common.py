"""Shared by the Python peers of the capture-proxy tests (tests/tests/proxy_peers.rs).

Every script prints JSON lines on stdout; payloads are reported base64-encoded."""

import argparse
import base64
import hashlib
import json
import sys

# Payloads up to this size are reported in full (base64); larger ones by length and digest.
FULL = 2 << 20
# Large enough for the 64 MiB deflate bomb; the default (1 MiB) would refuse 1 MiB + overhead.
MAX_SIZE = 256 << 20


def pattern(length, seed):
    """Deterministic test bytes; the Rust test and common.mjs compute the same."""
    return bytes(((i * 131 + seed * 17 + (i >> 8)) & 255) for i in range(length))


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def b64(data):
    return base64.b64encode(data).decode("ascii")


def describe(msg):
    data = msg.encode("utf-8") if isinstance(msg, str) else bytes(msg)
    d = {
        "type": "text" if isinstance(msg, str) else "binary",
        "len": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    if len(data) <= FULL:
        d["b64"] = b64(data)
    return d


def describe_built(msg):
    """describe() of a whole message as build() returns it (fragments joined)."""
    if isinstance(msg, list):
        msg = "".join(msg) if msg and isinstance(msg[0], str) else b"".join(msg)
    return describe(msg)


def build(spec):
    """A message spec ({type: text|binary|pattern|repeat|fragments, ...}) as what
    websockets' send() takes: str/bytes for a whole message, a list for fragments."""
    t = spec["type"]
    if t == "text":
        return spec["data"]
    if t == "binary":
        return base64.b64decode(spec["b64"])
    if t == "pattern":
        return pattern(spec["len"], spec["seed"])
    if t == "repeat":
        data = bytes([spec["byte"]]) * spec["len"]
        return data if spec.get("binary") else data.decode("latin-1")
    if t == "fragments":
        if spec.get("binary"):
            return [base64.b64decode(p) for p in spec["parts"]]
        return list(spec["parts"])
    raise ValueError(f"unknown message spec {spec!r}")


def close_info(ws):
    return {"code": ws.close_code, "reason": ws.close_reason}


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--deflate", action="store_true", help="offer/accept permessage-deflate")
    p.add_argument("--script", type=json.loads, help="the scripted exchange (JSON)")
    return p
