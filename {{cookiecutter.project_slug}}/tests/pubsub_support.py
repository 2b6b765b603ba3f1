"""What the pub/sub and presence tests share: the real Redis, a namespace per test, outages.

The Redis is ``TEST_REDIS_URL`` (environment, then ``.env``), else
``PUBSUB_URL`` when it is a Redis, else redis://127.0.0.1:6379/0: the service
CI and the compose file run. Every test works under a prefix of its own and
deletes its keys after, so runs in parallel, or on a shared Redis, never meet.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import typing as t
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import redis.asyncio
from dotenv import dotenv_values

from {{ cookiecutter.package_name }}.live.testing import scaled

WAIT = scaled(15.0)  # seconds any single expected event may take before the test fails
NODE_SCRIPT = Path(__file__).with_name("pubsub_node.py")
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Seconds: ping and retry often; a busy machine may answer a ping late, which is no lost link
# (the app's default timeout, 2 s: a reconnection loses the broadcasts made meanwhile).
FAST = {"timeout": scaled(2.0), "ping_every": 0.2, "max_backoff": 0.2}


def redis_url() -> str:
    values = {**dotenv_values(Path(__file__).parents[1] / ".env"), **os.environ}
    pubsub_url = values.get("PUBSUB_URL") or ""
    return (
        values.get("TEST_REDIS_URL")
        or (pubsub_url if pubsub_url.startswith(("redis://", "rediss://")) else "")
        or DEFAULT_REDIS_URL
    )


@asynccontextmanager
async def namespace() -> AsyncIterator[str]:
    """A key and channel prefix no one else uses; its keys are deleted afterwards."""
    prefix = f"test-{uuid.uuid4().hex[:12]}:"
    try:
        yield prefix
    finally:
        async with admin() as client:
            keys = [key async for key in client.scan_iter(match=prefix + "*")]
            if keys:
                await client.delete(*keys)


def admin() -> redis.asyncio.Redis:
    """A plain client, to look at Redis from outside the code under test."""
    return redis.asyncio.Redis.from_url(redis_url(), socket_timeout=WAIT)


async def eventually(check: t.Callable[[], t.Awaitable[bool]], what: str) -> None:
    """Wait until ``check()`` is true, at most ``WAIT`` seconds."""
    deadline = time.monotonic() + WAIT
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {WAIT} s: {what}")
        await asyncio.sleep(0.02)


class Inbox:
    """A subscriber that keeps what it receives, for a test to wait on."""

    def __init__(self) -> None:
        self.received: list[tuple[str, str, t.Any]] = []

    def __call__(self, topic: str, event: str, message: t.Any) -> None:
        self.received.append((topic, event, message))

    async def wait(self, count: int) -> list[tuple[str, str, t.Any]]:
        """The first ``count`` messages, once they are all here."""

        async def arrived() -> bool:
            return len(self.received) >= count

        await eventually(arrived, f"{count} messages (got {self.received})")
        return self.received[:count]

    def messages(self, event: str | None = None) -> list[t.Any]:
        return [message for _, name, message in self.received if event in (None, name)]


class Proxy:
    """A TCP proxy in front of Redis: a test makes Redis go away and come back through it.

    ``stop`` cuts every connection and refuses new ones; ``start`` again
    listens on the same port; ``freeze`` stalls the open connections without
    closing them, as a dead network link does.
    """

    def __init__(self) -> None:
        target = urlsplit(redis_url())
        self._target = (target.hostname or "127.0.0.1", target.port or 6379)
        self._database = target.path
        self._server: asyncio.Server | None = None
        self._links: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}{self._database}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._link, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        self.freeze()
        for writer in self._writers:
            writer.transport.abort()
        self._writers.clear()

    def freeze(self) -> None:
        """Stop carrying bytes on the open connections, and leave them open."""
        for link in self._links:
            link.cancel()
        self._links.clear()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self._target)
        self._writers |= {writer, upstream_writer}
        for source, sink in ((reader, upstream_writer), (upstream_reader, writer)):
            link = asyncio.create_task(_pipe(source, sink))
            self._links.add(link)
            link.add_done_callback(self._links.discard)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except OSError:
        pass
    sink.close()


class Node:
    """Another process of the app (``pubsub_node.py``), on the same Redis; killed at the end."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(NODE_SCRIPT), redis_url(), *args],
            stdin=subprocess.PIPE,  # closed when the test process ends: so does the node
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    async def line(self) -> str:
        """The next line the node prints, within ``WAIT`` seconds."""
        assert self.process.stdout is not None
        try:
            async with asyncio.timeout(WAIT):
                line = await asyncio.to_thread(self.process.stdout.readline)
        except TimeoutError:
            self.kill()
            raise AssertionError(f"the node said nothing in {WAIT} s") from None
        if not line:
            _, errors = self.process.communicate(timeout=WAIT)
            raise AssertionError(f"the node exited: {errors[-2000:]}")
        return line.strip()

    def kill(self) -> None:
        """SIGKILL: the process ends with no chance to clean up."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=WAIT)
