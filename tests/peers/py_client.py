"""Python `websockets` client for the capture-proxy tests.

  py_client.py --url URL [--deflate] --script JSON   the scripted exchange (see py_server.py)
  py_client.py --url URL [--deflate] --send JSON     send message specs one after the other,
                                                     wait for as many replies, close 1000
Prints one line {"event":"result","role":"client",...} when the connection has closed."""

import asyncio
import json

from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from common import MAX_SIZE, b64, build, close_info, describe, describe_built, out, parser


async def main():
    p = parser(__doc__)
    p.add_argument("--url", required=True)
    p.add_argument("--send", type=json.loads, default=[])
    p.add_argument("--replies", type=int)
    p.add_argument("--timeout", type=float, default=30)
    a = p.parse_args()
    result = {"event": "result", "role": "client", "lib": "python", "opened": False}
    received, pongs, sent = [], [], []
    result.update(received=received, pongs=pongs, pings=None, sent=sent, error=None)
    try:
        async with asyncio.timeout(a.timeout):
            async with connect(
                a.url,
                compression="deflate" if a.deflate else None,
                max_size=MAX_SIZE,
                ping_interval=None,
                open_timeout=10,
            ) as ws:
                result["opened"] = True
                result["extensions"] = ws.response.headers.get("Sec-WebSocket-Extensions")
                try:
                    if a.script:
                        await scripted(ws, a.script, received, pongs)
                    else:
                        for spec in a.send:
                            msg = build(spec)
                            sent.append(describe_built(msg))
                            await ws.send(msg)
                        replies = len(a.send) if a.replies is None else a.replies
                        while len(received) < replies:
                            received.append(describe(await ws.recv()))
                        await ws.close(1000, "done")
                except ConnectionClosed as e:
                    result["closed_exc"] = str(e)
                    result["sent_close"] = (
                        {"code": e.sent.code, "reason": e.sent.reason} if e.sent else None
                    )
                await ws.wait_closed()
                result["close"] = close_info(ws)
    except InvalidStatus as e:
        result["error"] = f"InvalidStatus: {e}"
        result["status"] = e.response.status_code
    except TimeoutError:
        result["error"] = "timeout"
    except Exception as e:  # reported to the test, which decides
        result["error"] = f"{type(e).__name__}: {e}"
    out(result)


async def scripted(ws, script, received, pongs):
    for spec in script["client"]:
        await ws.send(build(spec))
    waiter = await ws.ping(script["client_ping"].encode("utf-8"))
    await waiter  # websockets resolves it on the pong with the same payload
    pongs.append(b64(script["client_ping"].encode("utf-8")))
    await ws.send(script["client_done"])
    while True:
        msg = await ws.recv()
        received.append(describe(msg))
        if msg == script["server_done"] and script["close_by"] == "client":
            await ws.close(script["close_code"], script["close_reason"])
            return


if __name__ == "__main__":
    asyncio.run(main())
