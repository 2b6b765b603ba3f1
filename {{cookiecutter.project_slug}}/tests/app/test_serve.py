"""The server ``make run`` starts serves on the configured port, within limits.

It runs as a subprocess, ``python -m {{ cookiecutter.package_name }}``, with ``PORT``
in its environment. Oversized input is refused before the app sees
it (``__main__.py``): a request head past ``MAX_REQUEST_HEAD_BYTES`` gets a
400 and a closed connection at once, a WebSocket message past
``MAX_WEBSOCKET_MESSAGE_BYTES`` closes that socket with 1009, and other
clients are served all the while. In debug mode a Python change reloads the
server, and a database lacking migrations is a warning at start-up. Once the
app has started, the garbage collector is set up for many views.
"""

from __future__ import annotations

import asyncio
import gc
import os
import queue
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
import typing as t
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory
from websockets.exceptions import ConnectionClosed

from {{ cookiecutter.package_name }}.__main__ import (
    GC_THRESHOLDS,
    MAX_REQUEST_HEAD_BYTES,
    MAX_WEBSOCKET_MESSAGE_BYTES,
    Server,
    server_config,
)
from {{ cookiecutter.package_name }}.db import create_engine
from {{ cookiecutter.package_name }}.live.testing import scaled
from {{ cookiecutter.package_name }}.schema import ALEMBIC_INI, migration_warning

import raw_websocket
from conftest import app_settings
from live_client import TIMEOUT, LiveClient
from servers import free_port

# Each test starts processes of its own: `make test-app` leaves them out.
pytestmark = pytest.mark.slow

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PACKAGE_DIR = PROJECT_ROOT / "src" / "{{ cookiecutter.package_name }}"
STARTUP_TIMEOUT = scaled(90.0)  # seconds `python -m` may take to answer (imports, lifespan)
REFUSAL_TIMEOUT = TIMEOUT  # seconds an oversized request may take to be refused
UPLOAD_CHUNK_BYTES = 64_000  # LiveView's default upload chunk_size


def wait_until_up(url: str, process: subprocess.Popen[str]) -> None:
    """Poll (bounded) until the server answers, or fail with what it printed."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while time.monotonic() < deadline and process.poll() is None:
        try:
            httpx.get(url, timeout=STARTUP_TIMEOUT / 10)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    process.kill()
    output, _ = process.communicate()
    pytest.fail(f"the server did not answer at {url}:\n{output}")


@contextmanager
def running(database_url: str, **environ: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``python -m`` as ``make run`` starts it, on a port set through ``PORT``, ``environ``
    added; yields its URL and process (all it prints goes to the process's stdout)."""
    port = free_port()
    env = {
        **os.environ,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "SECRET_KEY": secrets.token_urlsafe(32),
        "DATABASE_URL": database_url,
        **environ,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "{{ cookiecutter.package_name }}"],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    wait_until_up(url, process)
    try:
        yield url, process
    finally:
        process.send_signal(signal.SIGINT)  # what Ctrl+C does: a graceful stop
        try:
            process.wait(timeout=2 * TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            pytest.fail("the server did not stop on SIGINT")


@pytest.fixture(scope="module")
def served(app_database_url: str) -> Iterator[str]:
    """The app as ``make run`` serves it in production (no reload); yields its URL."""
    with running(app_database_url, DEBUG="false") as (url, process):
        yield url
    process.communicate()


def test_serves_the_app_on_the_configured_port(served: str) -> None:
    response = httpx.get(f"{served}/counter", timeout=TIMEOUT)

    assert response.status_code == 200
    assert "data-phx-main" in response.text


def test_in_debug_mode_a_python_change_reloads_the_server_and_it_serves_again(
    app_database_url: str,
) -> None:
    """What a person editing the code sees: the change is picked up without a restart."""
    with running(app_database_url, DEBUG="true") as (url, process):
        assert process.stdout is not None
        lines = queue_lines(process.stdout)
        os.utime(PACKAGE_DIR / "seed.py")  # as an editor's save does
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while "Reloading" not in (line := lines.get(timeout=STARTUP_TIMEOUT)):
            assert time.monotonic() < deadline, "the server did not reload"
        assert "seed.py" in line
        # The new server, not the old one on its way out (a request it took would be dropped).
        while "Application startup complete" not in lines.get(timeout=STARTUP_TIMEOUT):
            assert time.monotonic() < deadline, "the reloaded server did not start"
        wait_until_up(url, process)
        assert httpx.get(f"{url}/counter", timeout=TIMEOUT).status_code == 200


def test_a_database_without_its_migrations_is_a_warning_at_start_up(tmp_path: Path) -> None:
    empty = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    with running(empty, DEBUG="false") as (url, process):
        assert httpx.get(f"{url}/counter", timeout=TIMEOUT).status_code == 200
    output, _ = process.communicate()
    script = ScriptDirectory.from_config(Config(str(ALEMBIC_INI)))
    revisions = [revision.revision for revision in reversed(list(script.walk_revisions()))]
    assert revisions[:4] == ["0001", "0002", "0003", "0004"]  # and any generated since
    missing = f"{len(revisions)} migrations ({', '.join(revisions)})"
    assert f"warning: the database lacks {missing}: run `make migrate`" in output


async def test_a_database_at_a_revision_the_code_lacks_is_a_warning_not_a_crash(
    tmp_path: Path,
) -> None:
    """Another branch's migration applied, then that branch left: ``make run`` still starts."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'ahead.db'}"
    engine = create_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.exec_driver_sql("CREATE TABLE alembic_version (version_num TEXT)")
            await connection.exec_driver_sql("INSERT INTO alembic_version VALUES ('0099')")
    finally:
        await engine.dispose()
    warning = await migration_warning(url)
    assert warning is not None and "a revision this code does not know" in warning
    assert "0099" in warning


def queue_lines(stream: t.IO[str]) -> queue.Queue[str]:
    """The lines ``stream`` prints from now on, as a reader thread gets them."""
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    return lines


def send_oversized_head(port: int) -> bytes | None:
    """Send a request with a 1 MB header; return what came back before the socket closed.

    None if the server neither refused nor closed within ``REFUSAL_TIMEOUT``.
    """
    head = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: " + b"a" * 1_000_000 + b"\r\n\r\n"
    deadline = time.monotonic() + REFUSAL_TIMEOUT
    received = b""
    with socket.create_connection(("127.0.0.1", port), timeout=REFUSAL_TIMEOUT) as connection:
        try:
            connection.sendall(head)
            while time.monotonic() < deadline and (chunk := connection.recv(65536)):
                received += chunk
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server closed while we were still sending: refused too
        except TimeoutError:
            return None
    return received if time.monotonic() < deadline else None


async def test_once_the_app_has_started_what_start_up_made_is_out_of_collections(
    app_database_url: str, tmp_path: Path
) -> None:
    """A full collection looks at every object, and stops every socket meanwhile: the
    modules, classes and app that start-up made never become garbage, so they are frozen
    out of collections, which run less often."""
    settings = app_settings(database_url=app_database_url, debug=False, media_dir=tmp_path)
    server = Server(server_config(settings, port=0, log_level="warning", lifespan="on"))
    thresholds = gc.get_threshold()
    gc.unfreeze()
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(STARTUP_TIMEOUT):
            while not server.started:
                assert not serving.done(), "the server did not start"
                await asyncio.sleep(0.01)
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == GC_THRESHOLDS
    finally:
        server.should_exit = True
        await serving
        gc.unfreeze()
        gc.set_threshold(*thresholds)


def test_the_server_does_not_ping_sockets_whose_client_sends_heartbeats() -> None:
    """A timer and a ping every 20 s for each of thousands of idle sockets, to learn what
    the heartbeats say (a socket silent past ``idle_timeout`` is closed)."""
    config = server_config(app_settings(debug=False))
    assert config.ws_ping_interval is None and config.ws_per_message_deflate is False


def test_an_oversized_request_head_is_refused_at_once(served: str) -> None:
    port = int(served.rsplit(":", 1)[1])
    outcome: list[bytes | None] = []
    attacker = threading.Thread(target=lambda: outcome.append(send_oversized_head(port)))
    attacker.start()
    others = [httpx.get(f"{served}/counter", timeout=TIMEOUT).status_code for _ in range(3)]
    attacker.join(REFUSAL_TIMEOUT * 2)

    assert others == [200, 200, 200]
    received = outcome[0] if outcome else None
    assert received is not None, f"not refused within {REFUSAL_TIMEOUT} s"
    assert received == b"" or received.startswith(b"HTTP/1.1 4"), received[:200]
    assert len(b"X-Big: " + b"a" * 1_000_000) > MAX_REQUEST_HEAD_BYTES


async def test_a_large_websocket_message_within_the_limit_is_answered(served: str) -> None:
    assert MAX_WEBSOCKET_MESSAGE_BYTES > UPLOAD_CHUNK_BYTES + 1024  # a chunk and its header fit

    async with LiveClient.open(served) as client:
        padding = "x" * (MAX_WEBSOCKET_MESSAGE_BYTES - 1024)
        reply = await client.call("phoenix", "heartbeat", {"padding": padding})

    assert reply["status"] == "ok"


async def test_an_oversized_websocket_message_closes_that_socket_with_1009(served: str) -> None:
    async with LiveClient.open(served) as other, LiveClient.open(served) as client:
        assert (await other.join())["status"] == "ok"

        async def fragments() -> t.AsyncIterator[str]:
            # 2.5 MiB in 64 KiB frames of one message: the limit is on the message,
            # not on each frame (a single oversized frame: see the test below).
            for _ in range(40):
                yield "x" * 65_536
                await asyncio.sleep(0.005)

        with pytest.raises(ConnectionClosed) as closed:
            await client.ws.send(fragments())
            await client.receive()

        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        assert (await other.click("increment"))["status"] == "ok"


OVERSIZED_TRIES = 20  # before the fix, about one frame in two ended in a reset
MASK = b"\x01\x02\x03\x04"  # a client masks its frames; the key does not matter here


def close_code_after(connection: socket.socket, frame: bytes) -> int:
    """Send ``frame`` in 64 KiB writes, as a client streams it; the code of the close frame."""
    for start in range(0, len(frame), 65_536):
        connection.sendall(frame[start : start + 65_536])
    received = b""
    while len(received) < 4:
        chunk = connection.recv(4096)
        assert chunk, f"closed without a close frame: {received!r}"
        received += chunk
    assert received[0] == 0x88, f"not a close frame: {received[:16]!r}"
    return int.from_bytes(received[2:4], "big")


@pytest.mark.parametrize("size", [MAX_WEBSOCKET_MESSAGE_BYTES + 1, 4 * MAX_WEBSOCKET_MESSAGE_BYTES])
def test_a_single_oversized_frame_always_gets_a_clean_close_1009(served: str, size: int) -> None:
    # The server refuses the frame from its header, with most of it still unread:
    # it must read (and drop) what the client sends until the client closes too,
    # or the kernel answers those bytes with a reset, and the client's send fails
    # or the reset destroys the close frame before the client reads it.
    port = int(served.rsplit(":", 1)[1])
    frame = b"\x81\xff" + size.to_bytes(8, "big") + MASK + bytes(size)
    for _ in range(OVERSIZED_TRIES):
        connection, head = raw_websocket.handshake(port)
        with connection:
            assert raw_websocket.status(head) == 101
            assert close_code_after(connection, frame) == 1009
