"""What every benchmark stands on: its error and sections, the template's runtime, child processes.

A child process (a server, a ``redis-server``) runs on a free port of
127.0.0.1 with its output in a temporary file, dies with the script however
the script dies, is waited for with a bound when it starts and when it stops,
and is stopped by ``running`` whatever happens.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import sys
import tempfile
import time
import typing as t
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

TEMPLATE = Path(__file__).resolve().parent.parent
PR_SET_PDEATHSIG = 1
# The collector's thresholds the baked app's __main__ sets: what runs the runtime runs with them.
GC_THRESHOLDS = (4_000, 2, 1_000)


class BenchError(RuntimeError):
    """Something the bench needs did not work; the message says what, with the log's end."""


async def section(
    work: t.Awaitable[dict[str, t.Any]], *errors: type[BaseException]
) -> dict[str, t.Any]:
    """A section's figures, or why it could not run.

    It could not when ``work`` raised a ``BenchError``, an ``OSError``, a timeout or one of
    ``errors``.
    """
    caught: tuple[type[BaseException], ...] = (BenchError, OSError, TimeoutError, *errors)
    try:
        return await work
    except caught as exc:
        return {"skipped": f"{type(exc).__name__}: {exc}"[:500]}


def use_runtime(script: str) -> Path:
    """Put the template's own ``src/<package>`` (the vendored ``live``) on ``sys.path``.

    Returns that directory; exits with a message naming ``script`` when there is none.
    Neither this process nor its servers write bytecode there: a bake copies whatever
    the template holds, ``__pycache__`` too, even half-written.
    """
    sys.dont_write_bytecode = True
    os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
    src = TEMPLATE / "{{cookiecutter.project_slug}}" / "src"
    if src.is_dir():
        for package in sorted(src.iterdir()):
            if (package / "live" / "__init__.py").is_file():
                sys.path.insert(0, str(package))
                return package
    sys.exit(f"{script}: no live runtime found in {src}/*/live")


def _die_with_parent() -> None:
    """In the child: SIGTERM when this script dies, however it dies (Linux's PDEATHSIG)."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Process:
    """A child process on a free port of 127.0.0.1, with its output in a temporary file.

    A kind of process says what it runs (``command``, ``environment``, ``cwd``)
    and when it is up (``ready``).
    """

    start_timeout = 20.0  # seconds
    stop_timeout = 15.0
    tail_lines = 3  # of the log, in the error when it does not start

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = 0  # chosen when it starts
        self.cwd: Path | None = None
        self.process: asyncio.subprocess.Process | None = None
        self._log = tempfile.TemporaryFile("w+")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return dict(os.environ)

    async def ready(self) -> bool:
        """Whether it answers yet; an ``OSError`` counts as not yet."""
        raise NotImplementedError

    async def start(self) -> None:
        """Spawn it, then wait until ``ready()``; ``BenchError`` if it exits or takes too long."""
        self.port = free_port()
        self.process = await asyncio.create_subprocess_exec(
            *self.command(),
            cwd=self.cwd,
            env=self.environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.process.returncode is not None:
                raise BenchError(f"{self.name} exited at start-up: {self.log_tail()}")
            try:
                if await self.ready():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} was not ready within {self.start_timeout:.0f} s")
            await asyncio.sleep(0.1)

    async def stop(self) -> None:
        """SIGTERM (a server closes its views and presences), then SIGKILL if it lingers."""
        if self.process is None or self.process.returncode is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(self.process.wait(), self.stop_timeout)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()

    def log_lines(self) -> list[str]:
        self._log.seek(0)
        return [line.rstrip() for line in self._log if line.strip()]

    def log_tail(self) -> str:
        return " | ".join(self.log_lines()[-self.tail_lines :]) or "(no output)"


@asynccontextmanager
async def running(*processes: Process) -> AsyncIterator[None]:
    """Start ``processes``, and stop every one of them whatever happens."""
    try:
        await asyncio.gather(*(process.start() for process in processes))
        yield
    finally:
        await asyncio.gather(*(process.stop() for process in processes))
