"""A WebSocket server on 127.0.0.1 that pushes JSON text messages to each client.

    python push_server.py [--rate N] [--count N] [--size BYTES] [--delay S]

Prints `listening ws://127.0.0.1:PORT/` once bound. Each client gets `--count` messages
(default: until it leaves) at `--rate` messages per second (0: as fast as the socket takes
them, sent in bursts of 500), each `{"type":"tick","n":N,"pad":"…"}` padded to about
`--size` bytes, starting `--delay` seconds after it connected. Above 1,000/s the paced
messages go out in bursts of whatever is due (at most every millisecond), so a busy machine
delays them a little but the rate holds. Used by the GUI timeline test (a steady trickle)
and `make bench-ui` (20,000/s, or a flood).
"""

import argparse
import asyncio
import json
import sys
import time

import websockets


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rate", type=float, default=50.0)
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--size", type=int, default=80)
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args()

    def message(n: int) -> str:
        body = {"type": "tick", "n": n, "pad": ""}
        pad = max(0, args.size - len(json.dumps(body)))
        body["pad"] = "x" * pad
        return json.dumps(body, separators=(",", ":"))

    async def client(ws):
        n = 0
        try:
            if args.delay > 0:
                await asyncio.sleep(args.delay)
            start = time.monotonic()
            while args.count == 0 or n < args.count:
                if args.rate > 1000:
                    # Everything due by now, then a short sleep.
                    due = int((time.monotonic() - start) * args.rate)
                    if args.count:
                        due = min(due, args.count)
                    while n < due:
                        n += 1
                        await ws.send(message(n))
                    await asyncio.sleep(0.001)
                elif args.rate <= 0:
                    for _ in range(500):
                        if args.count and n >= args.count:
                            break
                        n += 1
                        await ws.send(message(n))
                    await asyncio.sleep(0)
                else:
                    n += 1
                    await ws.send(message(n))
                    # An absolute schedule, so delays do not add up.
                    delay = start + n / args.rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
            await ws.wait_closed()
        except websockets.ConnectionClosed:
            pass

    async def serve():
        async with websockets.serve(client, "127.0.0.1", 0, max_queue=None) as server:
            port = server.sockets[0].getsockname()[1]
            print(f"listening ws://127.0.0.1:{port}/", flush=True)
            await asyncio.Future()

    try:
        asyncio.run(serve())
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
