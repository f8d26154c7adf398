"""Python `websockets` client for `sockscope demo` (tests/tests/workbench_peers.rs).

  demo_client.py KIND URL

Prints one {"event":"result",...} line describing what it saw:
  chat          two clients a and b; b says "hello room", then leaves; every message each saw
  ticker        ticks received in 1 s after the first, and gaps in their seq numbers
  telemetry     MessagePack readings received in 1 s (the first decoded)
  notifications notifications received in 4 s (the first)"""

import asyncio
import json
import sys
import time

from websockets.asyncio.client import connect

from common import out


def unpack(data):
    """A minimal MessagePack decoder for the demo's maps (fixmap/map16, str, uint, float64)."""
    pos = 0

    def read():
        nonlocal pos
        b = data[pos]
        pos += 1
        if b <= 0x7F:
            return b
        if 0x80 <= b <= 0x8F or b == 0xDE:
            n = b & 0x0F
            if b == 0xDE:
                n = int.from_bytes(data[pos:pos + 2], "big")
                pos += 2
            return {read(): read() for _ in range(n)}
        if 0xA0 <= b <= 0xBF or b == 0xD9:
            n = b & 0x1F
            if b == 0xD9:
                n = data[pos]
                pos += 1
            s = data[pos:pos + n].decode()
            pos += n
            return s
        if b in (0xCC, 0xCD, 0xCE, 0xCF, 0xD0, 0xD1, 0xD2, 0xD3):
            size = {0xCC: 1, 0xCD: 2, 0xCE: 4, 0xCF: 8, 0xD0: 1, 0xD1: 2, 0xD2: 4, 0xD3: 8}[b]
            v = int.from_bytes(data[pos:pos + size], "big", signed=b >= 0xD0)
            pos += size
            return v
        if b == 0xCB:
            import struct
            v = struct.unpack(">d", data[pos:pos + 8])[0]
            pos += 8
            return v
        raise ValueError(f"unexpected MessagePack byte {b:#x}")

    return read()


async def collect(ws, seconds):
    got = []
    end = time.monotonic() + seconds
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return got
        try:
            got.append(await asyncio.wait_for(ws.recv(), left))
        except asyncio.TimeoutError:
            return got


async def main(kind, url):
    if kind == "chat":
        async with connect(url) as a:
            seen_a = [json.loads(await a.recv())]
            async with connect(url) as b:
                seen_b = [json.loads(await b.recv())]
                seen_a.append(json.loads(await a.recv()))
                await b.send("hello room")
                seen_b += [json.loads(m) for m in await collect(b, 0.5)]
            seen_a += [json.loads(m) for m in await collect(a, 0.5)]
        out({"event": "result", "a": seen_a, "b": seen_b})
    elif kind == "ticker":
        async with connect(url) as ws:
            first = json.loads(await ws.recv())
            msgs = [json.loads(m) for m in await collect(ws, 1.0)]
            seqs = [first["seq"]] + [m["seq"] for m in msgs]
            gaps = sum(1 for x, y in zip(seqs, seqs[1:]) if y != x + 1)
            out({"event": "result", "count": len(msgs), "gaps": gaps, "first": first})
    elif kind == "telemetry":
        async with connect(url) as ws:
            msgs = await collect(ws, 1.0)
            out({"event": "result", "count": len(msgs), "first": unpack(msgs[0]) if msgs else None})
    else:
        async with connect(url) as ws:
            msgs = await collect(ws, 4.0)
            out({"event": "result", "count": len(msgs), "first": json.loads(msgs[0]) if msgs else None})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
