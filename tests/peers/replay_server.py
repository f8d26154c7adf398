"""Python `websockets` server for the replay tests (tests/tests/replay_mock.rs), on 127.0.0.1,
port chosen by the system.

  replay_server.py

Prints {"event":"listening","port":N}, then one {"event":"result",...} line per connection when
it has closed: the path, request headers, every message received with its arrival time and
every message sent with its send time (seconds on the server's own monotonic clock), and the
close code/reason. What a connection does depends on its path and query:
  /sink                    never answers
  /reply?delay_ms=D        answers the k-th message (k from 0) after D ms with the text
                           {"reply":k,"data":[{"sku":"a","price":10},{"sku":"b","price":20}]}
         &mutate=K         ... except reply K, whose data[1].price is 21
         &extra=K          ... and one more message {"extra":true} right after reply K
         &drop=K           ... and reply K is never sent
Replies leave in order; each one D ms after the message it answers arrived."""

import asyncio
import json
import time
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed

from common import b64, out


def reply_for(k, mutate):
    price = 21 if k == mutate else 20
    return json.dumps(
        {"reply": k, "data": [{"sku": "a", "price": 10}, {"sku": "b", "price": price}]}
    )


def entry(t, msg):
    d = {"t": t, "type": "text" if isinstance(msg, str) else "binary"}
    data = msg.encode("utf-8") if isinstance(msg, str) else bytes(msg)
    d["b64"] = b64(data)
    if isinstance(msg, str):
        d["text"] = msg
    return d


async def handler(ws):
    split = urlsplit(ws.request.path)
    path = split.path
    q = {k: v[0] for k, v in parse_qs(split.query).items()}
    num = lambda name: int(q[name]) if name in q else None  # noqa: E731
    delay = (num("delay_ms") or 0) / 1000.0
    mutate, extra, drop = num("mutate"), num("extra"), num("drop")
    received, sent = [], []
    result = {
        "event": "result",
        "path": path,
        "query": split.query,
        "headers": [[k, v] for k, v in ws.request.headers.raw_items()],
        "subprotocol": ws.subprotocol,
        "opened": time.monotonic(),
        "received": received,
        "sent": sent,
        "error": None,
    }
    queue = asyncio.Queue()

    async def writer():
        while True:
            due, msgs = await queue.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            for m in msgs:
                await ws.send(m)
                sent.append(entry(time.monotonic(), m))

    writing = asyncio.create_task(writer())
    k = 0
    try:
        async for msg in ws:
            now = time.monotonic()
            received.append(entry(now, msg))
            if path == "/reply":
                msgs = [] if k == drop else [reply_for(k, mutate)]
                if k == extra:
                    msgs.append(json.dumps({"extra": True}))
                queue.put_nowait((now + delay, msgs))
                k += 1
    except ConnectionClosed:
        pass
    except Exception as e:  # reported to the test, which decides
        result["error"] = f"{type(e).__name__}: {e}"
    writing.cancel()
    await ws.wait_closed()
    result["close"] = {"code": ws.close_code, "reason": ws.close_reason}
    out(result)


async def main():
    async with serve(
        handler,
        "127.0.0.1",
        0,
        compression=None,
        ping_interval=None,
        subprotocols=None,
    ) as server:
        port = server.sockets[0].getsockname()[1]
        out({"event": "listening", "port": port})
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
