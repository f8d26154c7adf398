"""Python `websockets` client driven line by line, for the intercept tests
(tests/tests/intercept_peers.rs).

  intercept_client.py --url URL [--deflate]

stdin, one JSON command per line:
  {"send": "text"}            send a text message
  {"send_b64": "..."}         send a binary message
  {"ping": "data", "timeout": S}  send a ping and wait for its pong
  {"close": CODE}             close and exit
stdout, JSON lines: {"event":"open","extensions":...}, {"event":"sent","n":N},
  {"event":"message","type":"text"|"binary","text"|"b64":...} for every message received (as it
  arrives), {"event":"pong","data":...,"ms":RTT}, {"event":"closed","code":..,"reason":..},
  {"event":"error","error":...}."""

import argparse
import asyncio
import base64
import json
import os
import sys
import time

from websockets.asyncio.client import connect


def out(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def reader(ws):
    try:
        async for msg in ws:
            if isinstance(msg, str):
                out({"event": "message", "type": "text", "text": msg})
            else:
                out({"event": "message", "type": "binary", "b64": base64.b64encode(msg).decode()})
    except Exception as e:  # reported to the test, which decides
        out({"event": "reader_error", "error": f"{type(e).__name__}: {e}"})


async def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--deflate", action="store_true")
    p.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    loop = asyncio.get_running_loop()
    lines = asyncio.Queue()
    pending = bytearray()

    def on_stdin():
        # Unbuffered: every complete line read is queued (an empty string means EOF).
        chunk = os.read(sys.stdin.fileno(), 65536)
        if not chunk:
            loop.remove_reader(sys.stdin.fileno())
            lines.put_nowait("")
            return
        pending.extend(chunk)
        while b"\n" in pending:
            line, _, rest = bytes(pending).partition(b"\n")
            pending[:] = rest
            if line.strip():
                lines.put_nowait(line.decode())

    loop.add_reader(sys.stdin.fileno(), on_stdin)
    try:
        async with asyncio.timeout(a.timeout):
            async with connect(
                a.url,
                compression="deflate" if a.deflate else None,
                ping_interval=None,
                open_timeout=10,
            ) as ws:
                out({"event": "open", "extensions": ws.response.headers.get("Sec-WebSocket-Extensions")})
                task = asyncio.create_task(reader(ws))
                sent = 0
                while True:
                    line = await lines.get()
                    if not line:
                        await ws.close(1000, "stdin closed")
                        break
                    cmd = json.loads(line)
                    if "send" in cmd:
                        await ws.send(cmd["send"])
                        sent += 1
                        out({"event": "sent", "n": sent})
                    elif "send_b64" in cmd:
                        await ws.send(base64.b64decode(cmd["send_b64"]))
                        sent += 1
                        out({"event": "sent", "n": sent})
                    elif "ping" in cmd:
                        start = time.monotonic()
                        waiter = await ws.ping(cmd["ping"].encode())
                        await asyncio.wait_for(waiter, cmd.get("timeout", 10))
                        ms = (time.monotonic() - start) * 1000
                        out({"event": "pong", "data": cmd["ping"], "ms": ms})
                    elif "close" in cmd:
                        await ws.close(cmd["close"], "done")
                        break
                await ws.wait_closed()
                await task
                out({"event": "closed", "code": ws.close_code, "reason": ws.close_reason})
    except Exception as e:  # reported to the test, which decides
        out({"event": "error", "error": f"{type(e).__name__}: {e}"})


if __name__ == "__main__":
    asyncio.run(main())
