"""The floor of a socket message's cost: a bare ``websockets`` server that sends given bytes
to its sockets and does nothing else (``ws_cpu_per_msg_vs_bare``).

``python -m bench.bare_ws PORT`` listens on 127.0.0.1:PORT (uvloop, as uvicorn runs the web
process), prints ``ready``, accepts any WebSocket handshake and keeps every socket in the
order it opened. A text message ``{"bare": {"likes": L, "rate": R, "per_like": P,
"payload": "..."}}`` from any socket starts the sends: L times, R times a second, the payload
to the next P sockets (round robin: a like's followers), with ``websockets.broadcast`` (its
cheapest send: the frame written without waiting). The bench measures this process's CPU
(psutil) around the sends, against the web process's around the push phase.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve


async def main(port: int) -> None:
    sockets: list[ServerConnection] = []

    async def send_all(likes: int, rate: float, per_like: int, payload: str) -> None:
        start = time.perf_counter()
        n = len(sockets)
        for i in range(likes):
            delay = start + i / rate - time.perf_counter()
            if delay > 0.0005:
                await asyncio.sleep(delay)
            first = (i * per_like) % n
            targets = [sockets[(first + j) % n] for j in range(min(per_like, n))]
            broadcast(targets, payload)

    async def handler(ws: ServerConnection) -> None:
        sockets.append(ws)
        tasks = set()
        try:
            async for message in ws:
                if isinstance(message, str) and message.startswith('{"bare"'):
                    job = json.loads(message)["bare"]
                    task = asyncio.create_task(
                        send_all(job["likes"], job["rate"], job["per_like"], job["payload"])
                    )
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
        finally:
            sockets.remove(ws)

    async with serve(handler, "127.0.0.1", port, compression=None, max_queue=None):
        print("ready", flush=True)
        await asyncio.Future()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
