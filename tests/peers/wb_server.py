"""Python `websockets` server for the workbench tests (tests/tests/workbench_peers.rs).

  wb_server.py [--port N]

Prints {"event":"listening","port":N}, then for each connection one
{"event":"handshake",...} line (path, query, headers, Origin, offered and chosen subprotocol)
and, when it has closed, {"event":"result",...} (messages received, pings seen, close code and
reason as received from the client). The server picks "sockscope.v2" when offered, else none.
Paths:
  /echo              echo every message (byte-exact)
  /close/CODE        on the text "close-me", close with CODE and the reason "bye CODE"
  anything else      echo"""

import argparse
import asyncio
import json
from urllib.parse import parse_qsl

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from common import describe, out


def select_subprotocol(conn, offered):
    return "sockscope.v2" if "sockscope.v2" in offered else None


async def handler(ws):
    path, _, query = ws.request.path.partition("?")
    headers = [[k, v] for k, v in ws.request.headers.raw_items()]
    offered = [p.strip() for h in ws.request.headers.get_all("Sec-WebSocket-Protocol") for p in h.split(",")]
    out({
        "event": "handshake",
        "path": path,
        "query": parse_qsl(query, keep_blank_values=True),
        "headers": headers,
        "origin": ws.request.headers.get("Origin"),
        "authorization": ws.request.headers.get("Authorization"),
        "offered": offered,
        "subprotocol": ws.subprotocol,
    })
    received = []
    result = {"event": "result", "path": path, "received": received, "error": None}
    try:
        async for msg in ws:
            received.append(describe(msg))
            if path.startswith("/close/") and msg == "close-me":
                code = int(path.split("/")[2])
                await ws.close(code, f"bye {code}")
                break
            await ws.send(msg)
    except ConnectionClosed:
        pass
    except Exception as e:  # reported to the test, which decides
        result["error"] = f"{type(e).__name__}: {e}"
    await ws.wait_closed()
    # What the client sent in its Close frame (None when the server closed first).
    rcvd = ws.protocol.close_rcvd
    result["close_rcvd"] = {"code": rcvd.code, "reason": rcvd.reason} if rcvd else None
    out(result)


async def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, default=0)
    a = p.parse_args()
    async with serve(
        handler,
        "127.0.0.1",
        a.port,
        select_subprotocol=select_subprotocol,
        max_size=8 << 20,
        ping_interval=None,
        compression=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        out({"event": "listening", "port": port})
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
