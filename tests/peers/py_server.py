"""Python `websockets` server for the capture-proxy tests, on 127.0.0.1, port chosen by the system.

  py_server.py [--deflate] [--script JSON] [--tls-cert PEM --tls-key PEM]

Prints {"event":"listening","port":N}, then one {"event":"result","role":"server",...} line per
connection when it has closed. What a connection does depends on its path:
  /script  the scripted exchange: wait for the client's `client_done` text, send the `server`
           message specs, ping with `server_ping` and wait for the pong, then close with
           `close_code`/`close_reason` (close_by "server") or send `server_done`
  /echo    echo every message with its type
  /sink    answer every message with a text {"len":N,"sha256":HEX}"""

import asyncio
import json
import ssl

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from common import MAX_SIZE, b64, build, close_info, describe, out, parser


def handler_for(script):
    async def handler(ws):
        path = ws.request.path.split("?")[0]
        received, pongs = [], []
        result = {
            "event": "result",
            "role": "server",
            "lib": "python",
            "path": path,
            "extensions": ws.request.headers.get("Sec-WebSocket-Extensions"),
            "negotiated": ws.response.headers.get("Sec-WebSocket-Extensions") or "",
            "received": received,
            "pings": None,
            "pongs": pongs,
            "error": None,
        }
        try:
            async for msg in ws:
                d = describe(msg)
                received.append(d)
                if path == "/echo":
                    await ws.send(msg)
                elif path == "/sink":
                    await ws.send(json.dumps({"len": d["len"], "sha256": d["sha256"]}))
                elif path == "/script" and script and msg == script["client_done"]:
                    for spec in script["server"]:
                        await ws.send(build(spec))
                    waiter = await ws.ping(script["server_ping"].encode("utf-8"))
                    await asyncio.wait_for(waiter, 10)
                    pongs.append(b64(script["server_ping"].encode("utf-8")))
                    if script["close_by"] == "server":
                        await ws.close(script["close_code"], script["close_reason"])
                    else:
                        await ws.send(script["server_done"])
        except ConnectionClosed as e:
            result["closed_exc"] = str(e)
        except Exception as e:  # reported to the test, which decides
            result["error"] = f"{type(e).__name__}: {e}"
        await ws.wait_closed()
        result["close"] = close_info(ws)
        out(result)

    return handler


async def main():
    p = parser(__doc__)
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    a = p.parse_args()
    ctx = None
    if a.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.tls_cert, a.tls_key)
    async with serve(
        handler_for(a.script),
        "127.0.0.1",
        0,
        ssl=ctx,
        compression="deflate" if a.deflate else None,
        max_size=MAX_SIZE,
        ping_interval=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        out({"event": "listening", "port": port})
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
