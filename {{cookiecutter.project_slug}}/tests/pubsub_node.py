"""Another process of the app, for the tests: ``python pubsub_node.py URL PREFIX MODE [ARGS]``.

``echo``: prints ``ready`` once subscribed to ``to-node``, then prints each
message received there as JSON and broadcasts it back on ``from-node``; a
resync is printed ``resync to-node``, and not sent back.

``track HEARTBEAT TTL``: a view of this process tracks key ``node`` on
``room``; prints ``ready <node id>``, then waits to be killed.

Either ends when its standard input closes: it never outlives its test.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import typing as t
from urllib.parse import urlparse

from {{ cookiecutter.package_name }}.live.presence import Presence
from {{ cookiecutter.package_name }}.live.pubsub import RESYNC
from {{ cookiecutter.package_name }}.live.pubsub.redis import RedisPubSub
from {{ cookiecutter.package_name }}.live.socket import ConnectedLiveViewSocket


async def echo(pubsub: RedisPubSub) -> None:
    received: asyncio.Queue[tuple[str, t.Any]] = asyncio.Queue()
    await pubsub.subscribe(
        "to-node", lambda topic, event, message: received.put_nowait((event, message))
    )
    print("ready", flush=True)
    while True:
        event, message = await received.get()
        if event == RESYNC:
            print(f"resync {message}", flush=True)
            continue
        print(json.dumps(message), flush=True)
        await pubsub.broadcast("from-node", message, event="echo")


async def track(pubsub: RedisPubSub, heartbeat: str, ttl: str) -> None:
    async with Presence(pubsub, heartbeat=float(heartbeat), ttl=float(ttl)) as presence:
        socket: ConnectedLiveViewSocket[None] = ConnectedLiveViewSocket(urlparse("/"))
        await presence.track(socket, "room", "node", {"pid": os.getpid()})
        print(f"ready {pubsub.node}", flush=True)
        await asyncio.Event().wait()


async def main(url: str, prefix: str, mode: str, *args: str) -> None:
    pubsub = RedisPubSub(url, prefix=prefix)
    await pubsub.start()
    try:
        work = asyncio.create_task(echo(pubsub) if mode == "echo" else track(pubsub, *args))
        stdin_closed = asyncio.create_task(asyncio.to_thread(sys.stdin.read))
        done, _ = await asyncio.wait({work, stdin_closed}, return_when=asyncio.FIRST_COMPLETED)
        if work in done:
            work.result()  # raises what broke it, for the test to show
        work.cancel()
    finally:
        await pubsub.stop()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
