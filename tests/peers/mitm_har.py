"""A real mitmproxy HAR with WebSocket messages, for tests/tests/har_mitmproxy.rs.

  mitm_har.py --har FILE [--timeout S]

Starts a Python `websockets` echo server on 127.0.0.1 (port chosen by the system), runs
`mitmdump --mode reverse:http://127.0.0.1:PORT --set hardump=FILE` in front of it on another
free loopback port (its own confdir in a temporary directory), connects a Python `websockets`
client through mitmdump, sends a text and a binary message and receives their echoes, closes
with 1000, then stops mitmdump with SIGINT so that it writes the HAR. Prints one line
{"event":"result","url":...,"upstream_url":...,"sent":[...],"received":[...]} (payloads base64), or
{"event":"error","error":...} and exits 1."""

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

from common import b64, out

TEXT = "hello through mitmproxy ✓ <b>"
BINARY = bytes([0, 1, 2, 250, 255])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def echo(ws):
    async for msg in ws:
        await ws.send(msg)


async def wait_listening(port, proc, deadline):
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mitmdump exited with {proc.returncode}")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise TimeoutError("mitmdump did not listen in time")


async def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--har", required=True)
    p.add_argument("--timeout", type=float, default=60)
    a = p.parse_args()
    deadline = time.monotonic() + a.timeout
    mitmdump = os.path.join(os.path.dirname(sys.executable), "mitmdump")
    async with serve(echo, "127.0.0.1", 0) as server:
        upstream = server.sockets[0].getsockname()[1]
        listen = free_port()
        with tempfile.TemporaryDirectory() as confdir:
            proc = subprocess.Popen(
                [
                    mitmdump,
                    "--quiet",
                    "--mode", f"reverse:http://127.0.0.1:{upstream}",
                    "--listen-host", "127.0.0.1",
                    "--listen-port", str(listen),
                    "--set", f"confdir={confdir}",
                    "--set", f"hardump={a.har}",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            try:
                await wait_listening(listen, proc, deadline)
                url = f"ws://127.0.0.1:{listen}/echo?room=7"
                received = []
                async with connect(url) as ws:
                    for msg in (TEXT, BINARY):
                        await ws.send(msg)
                        received.append(await asyncio.wait_for(ws.recv(), 10))
                    await ws.close(1000, "done")
                # mitmproxy records the end of the WebSocket flow on its own time.
                await asyncio.sleep(0.5)
            finally:
                proc.send_signal(signal.SIGINT)
                try:
                    _, err = proc.communicate(timeout=max(5.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    _, err = proc.communicate()
            if not os.path.isfile(a.har):
                raise RuntimeError(f"mitmdump wrote no HAR (exit {proc.returncode}): {err.decode(errors='replace')}")
    enc = lambda m: {"type": "text", "b64": b64(m.encode())} if isinstance(m, str) else {"type": "binary", "b64": b64(m)}
    out({
        "event": "result",
        "url": url,
        "upstream_url": f"ws://127.0.0.1:{upstream}/echo?room=7",
        "sent": [enc(TEXT), enc(BINARY)],
        "received": [enc(m) for m in received],
    })


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except Exception as e:  # reported to the test
        out({"event": "error", "error": f"{type(e).__name__}: {e}"})
        sys.exit(1)
