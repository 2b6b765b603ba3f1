"""Two processes of the app on one Redis, as a deployment runs them: what one does, the other shows.

Each process is the app as ``make run`` and the Docker image serve it
(``python -m {{ cookiecutter.package_name }}``) on a port of its own, with
``PUBSUB_URL`` at the test Redis (whatever this bake's default) under a
``PUBSUB_PREFIX`` of this run's own, and a short presence bound. Clients
speak the LiveView protocol over real WebSockets and merge every diff as the
browser's client does. Every wait is bounded, and every process is killed at
the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import typing as t
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser

import pubsub_support
from {{ cookiecutter.package_name }}.db import Database, create_engine
from {{ cookiecutter.package_name }}.live.pubsub import create_pubsub
from {{ cookiecutter.package_name }}.live.testing import Rendered, scaled
from {{ cookiecutter.package_name }}.models import Contact

from live_client import LiveClient
from servers import free_port

# Each test starts processes of its own: `make test-app` leaves them out.
pytestmark = pytest.mark.slow

PACKAGE = "{{ cookiecutter.package_name }}"
HEARTBEAT = 0.2  # PRESENCE_HEARTBEAT of these processes, in seconds
TTL = scaled(2.0)  # PRESENCE_TTL: a process the machine is slow to run is not taken for dead
BOUND = TTL + HEARTBEAT  # the documented bound: a dead process's presences leave within it
DELIVERY = scaled(3.0)  # seconds more, for the leave to be broadcast, sent and read
STARTUP_TIMEOUT = scaled(90.0)  # seconds a process may take to answer HTTP (imports, lifespan)
PORT_TRIES = 3  # ports tried when another process takes the one chosen before the app binds it
STOP_TIMEOUT = scaled(30.0)
WAIT = scaled(15.0)  # seconds any expected diff may take
PREFIX = f"test-{uuid.uuid4().hex[:12]}:"  # these processes' channels and keys in Redis


@dataclass
class Server:
    """One process of the app, serving ``url``."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def kill(self) -> None:
        """SIGKILL: the process ends with no chance to clean up (a crash, a power loss)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(STOP_TIMEOUT)


@contextmanager
def serve(
    tmp_path: Path, name: str, secret_key: str, database_url: str, redis_url: str | None = None
) -> Iterator[Server]:
    """Start ``python -m <package>`` on a free port; stop it (SIGTERM, then SIGKILL) after.

    Its pub/sub is the tests' Redis, or ``redis_url``, under ``PREFIX``.
    """
    environment = {
        **os.environ,
        "SECRET_KEY": secret_key,
        "DATABASE_URL": database_url,
        "PUBSUB_URL": redis_url or pubsub_support.redis_url(),
        "PUBSUB_PREFIX": PREFIX,
        "PRESENCE_HEARTBEAT": str(HEARTBEAT),
        "PRESENCE_TTL": str(TTL),
        "HOST": "127.0.0.1",
        "DEBUG": "false",
    }
    log = tmp_path / f"{name}.log"
    for attempt in range(1, PORT_TRIES + 1):
        # Free when chosen, but another process of a busy machine may take it first.
        port = free_port()
        with log.open("wb") as output:
            process = subprocess.Popen(
                [sys.executable, "-m", PACKAGE],
                env={**environment, "PORT": str(port)},
                stdout=output,
                stderr=output,
            )
        server = Server(process, f"http://127.0.0.1:{port}", log)
        if _wait_until_up(server, last_try=attempt == PORT_TRIES):
            break
    try:
        yield server
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()


def _wait_until_up(server: Server, last_try: bool) -> bool:
    """True once it answers; False if another process took its port first (try another)."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if server.process.poll() is not None:
            output = server.log.read_text()
            if "address already in use" in output and not last_try:
                return False
            pytest.fail(f"the app exited during start-up:\n{output[-3000:]}")
        try:
            if httpx.get(server.url + "/", timeout=STARTUP_TIMEOUT / 10).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            pytest.fail(f"the app did not answer in {STARTUP_TIMEOUT} s:\n{server.log.read_text()}")
        time.sleep(0.05)


@dataclass
class Tab:
    """A browser tab on one server: its socket, and the page as the client shows it."""

    client: LiveClient
    rendered: Rendered = field(default_factory=Rendered)

    @property
    def page(self) -> LexborHTMLParser:
        return LexborHTMLParser(self.rendered.html)

    @property
    def me(self) -> str:
        return self.page.css_first("#me").text()

    def here(self) -> list[str]:
        """The names in the "who's here" panel."""
        return [node.text().removesuffix(" (you)") for node in self.page.css("#whos-here li")]

    def feed(self) -> list[str]:
        return [node.text() for node in self.page.css("#feed li")]

    def merge(self, diff: dict[str, t.Any]) -> None:
        self.rendered.merge(Rendered.extract(diff).diff)

    async def wait_until(
        self, shows: Callable[[Tab], bool], what: str, wait: float = WAIT
    ) -> float:
        """Apply the server's pushes until ``shows(self)``; the seconds it took (at most wait)."""
        start = time.monotonic()
        while not shows(self):
            if self.client.pushes:
                frame = self.client.pushes.pop(0)
            else:
                left = start + wait - time.monotonic()
                try:
                    frame = await self.client.receive(max(left, 0.0))
                except TimeoutError:
                    pytest.fail(f"not within {wait} s: {what}; the page:\n{self.rendered.html}")
            if frame.event == "diff":
                self.merge(frame.payload)
        return time.monotonic() - start


@asynccontextmanager
async def tab(server: Server | str, path: str = "/lobby") -> AsyncIterator[Tab]:
    """Load ``path`` on ``server`` (or a base URL) and join its view, as a browser tab does."""
    async with LiveClient.open(server if isinstance(server, str) else server.url, path) as client:
        reply = await client.join()
        assert reply["status"] == "ok", reply
        opened = Tab(client)
        opened.merge(reply["response"]["rendered"])
        yield opened


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory, app_database_url: str
) -> Iterator[tuple[Server, Server]]:
    """Processes A and B of one app: one secret, one database, one Redis."""
    tmp_path = tmp_path_factory.mktemp("processes")
    secret_key = os.urandom(24).hex()
    try:
        with (
            serve(tmp_path, "a", secret_key, app_database_url) as a,
            serve(tmp_path, "b", secret_key, app_database_url) as b,
        ):
            yield a, b
    finally:
        pubsub_support.forget(PREFIX)


async def test_a_wave_on_one_process_reaches_a_tab_on_the_other(
    servers: tuple[Server, Server],
) -> None:
    a, b = servers
    async with tab(a) as on_a, tab(b) as on_b:
        waver = on_a.me
        reply = await on_a.client.click("wave")
        assert reply["status"] == "ok", reply
        await on_b.wait_until(lambda page: f"{waver} waves" in page.feed(), f"{waver}'s wave on B")


async def test_presence_on_one_process_lists_the_tabs_on_the_other(
    servers: tuple[Server, Server],
) -> None:
    a, b = servers
    async with tab(b) as watcher:
        async with tab(a) as on_a:
            name = on_a.me
            await watcher.wait_until(lambda page: name in page.here(), f"{name} arriving on B")
            assert f"{name} joined" in watcher.feed()
            async with tab(b) as newcomer:  # lists who is here: A's tab too
                assert name in newcomer.here() and watcher.me in newcomer.here()
        await watcher.wait_until(lambda page: name not in page.here(), f"{name} leaving B")
        assert f"{name} left" in watcher.feed()


async def test_a_broadcast_from_plain_code_reaches_every_process(
    servers: tuple[Server, Server],
) -> None:
    # What a CLI command or a worker does: no view, no socket, the app's settings' Redis.
    async with tab(servers[0]) as on_a, tab(servers[1]) as on_b:
        async with create_pubsub(pubsub_support.redis_url(), prefix=PREFIX) as pubsub:
            await pubsub.broadcast("lobby", {"name": "The operator"})
        for opened in (on_a, on_b):
            await opened.wait_until(lambda page: "The operator waves" in page.feed(), "the wave")


async def test_what_another_suite_or_app_broadcasts_on_the_same_redis_is_not_heard(
    live_server: str,
) -> None:
    # The live server (conftest) is on the tests' Redis (TEST_REDIS_URL) in a Redis bake;
    # another suite, or an app left at the default PUBSUB_PREFIX, broadcasts there too.
    async with tab(live_server) as lobby:
        async with create_pubsub(pubsub_support.redis_url()) as elsewhere:
            await elsewhere.broadcast("lobby", {"name": "Another suite"})
        me = lobby.me
        reply = await lobby.client.click("wave")  # sent after: heard after, were both heard
        assert reply["status"] == "ok", reply
        lobby.merge(reply["response"].get("diff", {}))
        await lobby.wait_until(lambda page: f"{me} waves" in page.feed(), "this tab's own wave")
        assert "Another suite waves" not in lobby.feed()


async def test_a_killed_process_s_presences_leave_within_the_bound(
    servers: tuple[Server, Server], tmp_path: Path, app_database_url: str
) -> None:
    b = servers[1]
    secret_key = os.urandom(24).hex()
    with serve(tmp_path, "doomed", secret_key, app_database_url) as doomed:
        async with tab(b) as watcher, tab(doomed) as victim:
            name = victim.me
            await watcher.wait_until(lambda page: name in page.here(), f"{name} arriving on B")
            doomed.kill()
            took = await watcher.wait_until(
                lambda page: name not in page.here(), f"{name} leaving B after SIGKILL"
            )
            assert took <= BOUND + DELIVERY, f"{name} left after {took:.2f} s"
            assert f"{name} left" in watcher.feed()


async def add_contact(database_url: str, name: str) -> int:
    """A contact in the processes' database, with a unique email; its id."""
    database = Database(create_engine(database_url))
    try:
        contact = Contact(name=name, email=f"{os.urandom(6).hex()}@example.com")
        async with database.session() as session:
            session.add(contact)
        return contact.id
    finally:
        await database.dispose()


def texts(page: Tab, selector: str) -> list[str]:
    return [node.text(deep=True).strip() for node in page.page.css(selector)]


async def test_contacts_saved_on_one_process_update_the_pages_on_the_other(
    servers: tuple[Server, Server], app_database_url: str
) -> None:
    a, b = servers
    tag = os.urandom(4).hex()
    contact_id = await add_contact(app_database_url, f"Ada {tag}")
    async with (
        tab(b, f"/contacts?q={tag}") as listing,
        tab(b, f"/contacts/{contact_id}") as shown,
        tab(a, f"/contacts/{contact_id}/edit") as editor,
    ):
        # Presence crosses too: B's page says that A's tab is editing.
        await shown.wait_until(
            lambda page: any("is editing this record" in text for text in texts(page, ".editing")),
            "A's editor shown on B",
        )
        form = {"name": f"Ada {tag}", "email": f"ada-{tag}@example.com", "status": "lead"}
        form["score"] = "64"
        reply = await editor.client.push(
            "event", {"type": "form", "event": "save", "value": urlencode(form)}
        )
        assert reply["status"] == "ok" and "live_redirect" in reply["response"], reply
        await shown.wait_until(
            lambda page: texts(page, "#contact-score") == ["64"], "the new score on B"
        )
        await listing.wait_until(
            lambda page: texts(page, ".col-score")[1:] == ["64"], "the list's row on B"
        )
        async with tab(a, f"/contacts?q={tag}") as deleter:
            reply = await deleter.client.click("delete", {"id": str(contact_id)})
            assert reply["status"] == "ok", reply
        await listing.wait_until(lambda page: bool(page.page.css("#empty")), "the row gone on B")
        await shown.wait_until(lambda page: bool(page.page.css("#gone")), "the contact gone on B")
