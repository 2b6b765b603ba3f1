"""What the pub/sub and presence tests share: the real Redis, a namespace per test, outages.

The Redis is ``TEST_REDIS_URL`` (environment, then ``.env``), else
``PUBSUB_URL`` when it is a Redis, else redis://127.0.0.1:6379/0: the service
CI and the compose file run. Every test works under a prefix of its own and
deletes its keys after, so runs in parallel, or on a shared Redis, never meet.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time
import typing as t
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import redis.asyncio
from dotenv import dotenv_values

from {{ cookiecutter.package_name }}.live.pubsub import RESYNC
from {{ cookiecutter.package_name }}.live.testing import scaled

from servers import free_port

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


def admin(url: str | None = None) -> redis.asyncio.Redis:
    """A plain client, to look at a Redis (the tests' by default) from outside the code."""
    return redis.asyncio.Redis.from_url(url or redis_url(), socket_timeout=WAIT)


def forget(prefix: str) -> None:
    """Delete the keys under ``prefix`` (from code with no event loop: a session's fixture)."""
    with redis.Redis.from_url(redis_url(), socket_timeout=WAIT) as client:
        keys = list(client.scan_iter(match=prefix + "*"))
        if keys:
            client.delete(*keys)


async def eventually(
    check: t.Callable[[], t.Awaitable[bool]], what: str, wait: float = WAIT
) -> None:
    """Wait until ``check()`` is true, at most ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {wait} s: {what}")
        await asyncio.sleep(0.02)


class Inbox:
    """A subscriber that keeps what it receives, for a test to wait on.

    Resyncs are kept apart, in ``resyncs``: a busy machine may answer a ping
    late, and the reconnection that follows makes one at any moment.
    """

    def __init__(self) -> None:
        self.received: list[tuple[str, str, t.Any]] = []
        self.resyncs: list[str] = []  # the topics of the resyncs received

    def __call__(self, topic: str, event: str, message: t.Any) -> None:
        if event == RESYNC:
            self.resyncs.append(topic)
        else:
            self.received.append((topic, event, message))

    async def resynced(self, count: int = 1) -> None:
        """Once ``count`` resyncs are here."""

        async def arrived() -> bool:
            return len(self.resyncs) >= count

        await eventually(arrived, f"{count} resyncs (got {self.resyncs})")

    async def wait(self, count: int) -> list[tuple[str, str, t.Any]]:
        """The first ``count`` messages, once they are all here."""

        async def arrived() -> bool:
            return len(self.received) >= count

        await eventually(arrived, f"{count} messages (got {self.received})")
        return self.received[:count]

    def messages(self, event: str | None = None) -> list[t.Any]:
        return [message for _, name, message in self.received if event in (None, name)]


class RedisServer:
    """A ``redis-server`` of the test's own on a free port of 127.0.0.1: a real outage.

    ``stop`` kills it (SIGKILL: connections drop, as in a crash); ``start``
    runs a new one on the same port. In memory only, as a Redis without
    persistence: a restart loses every key. Never the shared Redis. Both
    block for as long as the server takes (milliseconds), so sync fixtures
    and async tests alike may call them.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None

    def start(self) -> None:
        """Start it, and wait (bounded) until it answers."""
        executable = shutil.which("redis-server")
        if executable is None:
            raise AssertionError("these tests start a redis-server of their own: install one")
        command = [executable, "--bind", "127.0.0.1", "--port", str(self.port)]
        command += ["--save", "", "--appendonly", "no", "--loglevel", "warning"]
        self._process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + WAIT
        with redis.Redis.from_url(self.url, socket_timeout=WAIT) as client:
            while True:
                try:
                    if client.ping():
                        return
                except redis.RedisError:
                    pass
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise AssertionError(f"redis-server did not answer on {self.port} in {WAIT} s")
                time.sleep(0.01)

    def stop(self) -> None:
        """Kill it; its clients' connections drop."""
        if self._process is not None:
            self._process.kill()
            self._process.communicate(timeout=WAIT)
        self._process = None


@contextmanager
def own_redis() -> Iterator[RedisServer]:
    """A started ``RedisServer``, killed at the end whatever happens."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.stop()


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

    async def line(self, resyncs: bool = False) -> str:
        """The next line the node prints, within ``WAIT`` seconds; its resyncs only if asked
        (``resync <topic>``: a busy machine's needless reconnection makes one at any moment)."""
        while (line := await self._line()).startswith("resync ") and not resyncs:
            pass
        return line

    async def _line(self) -> str:
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
