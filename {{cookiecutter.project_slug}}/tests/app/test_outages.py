"""Redis goes away under two processes of the app, and comes back: nothing a person did is lost.

The processes (``python -m {{ cookiecutter.package_name }}``, as in
``test_two_processes.py``) share one database and a ``redis-server`` of this
module's own, which the tests kill (SIGKILL: every connection drops) and
start again, empty, on the same port. While it is away a save commits and
says so, and every page with presence opens and says presence is
unavailable; once it is back every page shows what changed meanwhile, and
who is here, without a reload.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest

import pubsub_support
import test_two_processes as processes
from {{ cookiecutter.package_name }}.db import Database, create_engine
from {{ cookiecutter.package_name }}.models import Contact

# Each test starts processes of its own: `make test-app` leaves them out.
pytestmark = pytest.mark.slow

BACK = 15.0  # seconds for a page to heal once Redis is back: reconnection (≤ 2 s), heartbeats
UNAVAILABLE = "Presence is unavailable right now"
texts = processes.texts


@pytest.fixture(scope="module")
def redis_server() -> Iterator[pubsub_support.RedisServer]:
    with pubsub_support.own_redis() as server:
        yield server


@pytest.fixture
def redis(redis_server: pubsub_support.RedisServer) -> Iterator[pubsub_support.RedisServer]:
    """The module's Redis, running at the start of each test whatever the last one did."""
    if not redis_server.running:
        redis_server.start()
    yield redis_server


@pytest.fixture(scope="module")
def servers(
    tmp_path_factory: pytest.TempPathFactory,
    app_database_url: str,
    redis_server: pubsub_support.RedisServer,
) -> Iterator[tuple[processes.Server, processes.Server]]:
    """Processes A and B of one app on the module's Redis."""
    tmp_path = tmp_path_factory.mktemp("outages")
    secret_key = os.urandom(24).hex()
    url = redis_server.url
    with (
        processes.serve(tmp_path, "a", secret_key, app_database_url, url) as a,
        processes.serve(tmp_path, "b", secret_key, app_database_url, url) as b,
    ):
        yield a, b


def names(page: processes.Tab) -> list[str]:
    return [name.replace(" (you)", "") for name in page.here()]


def unavailable(page: processes.Tab) -> bool:
    return any(UNAVAILABLE in text for text in texts(page, "#whos-here"))


async def score_of(database_url: str, contact_id: int) -> int:
    database = Database(create_engine(database_url))
    try:
        async with database.session() as session:
            contact = await session.get(Contact, contact_id)
            assert contact is not None
            return contact.score
    finally:
        await database.dispose()


async def test_a_save_while_redis_is_away_commits_says_so_and_reaches_the_other_process(
    servers: tuple[processes.Server, processes.Server],
    redis: pubsub_support.RedisServer,
    app_database_url: str,
) -> None:
    a, b = servers
    tag = os.urandom(4).hex()
    contact_id = await processes.add_contact(app_database_url, f"Ada {tag}")
    async with (
        processes.tab(b, f"/contacts?q={tag}") as listing,
        processes.tab(b, f"/contacts/{contact_id}") as shown,
        processes.tab(a, f"/contacts/{contact_id}/edit") as editor,
    ):
        redis.stop()
        form = {"name": f"Ada {tag}", "email": f"ada-{tag}@example.com", "status": "lead"}
        form["score"] = "77"
        reply = await editor.client.push(
            "event", {"type": "form", "event": "save", "value": urlencode(form)}
        )
        # The person's save is a success: committed, and the page goes on to the record.
        assert reply["status"] == "ok" and "live_redirect" in reply["response"], reply
        assert await score_of(app_database_url, contact_id) == 77
        assert not [f for f in editor.client.pushes if f.event in ("phx_error", "phx_close")]

        redis.start()  # empty: every subscription, presence and broadcast of before is gone
        # B never heard the broadcast: its pages reload on the resync.
        await shown.wait_until(lambda page: texts(page, "#contact-score") == ["77"], "B", BACK)
        await listing.wait_until(
            lambda page: texts(page, ".col-score")[1:] == ["77"], "the list's row on B", BACK
        )


@pytest.mark.parametrize(
    "path", ["/lobby", "/contacts", "/contacts/{id}", "/contacts/{id}/edit"]
)
async def test_pages_with_presence_open_while_redis_is_away_and_heal_when_it_is_back(
    servers: tuple[processes.Server, processes.Server],
    redis: pubsub_support.RedisServer,
    app_database_url: str,
    path: str,
) -> None:
    a, b = servers
    contact_id = await processes.add_contact(app_database_url, f"Grace {os.urandom(4).hex()}")
    path = path.format(id=contact_id)
    async with processes.tab(b, path) as there:  # opened before the outage, on the other one
        redis.stop()
        async with processes.tab(a, path) as here:  # the join works, and says what it cannot show
            assert unavailable(here), here.rendered.html
            if path == "/lobby":  # and the page works: a wave says it could not be sent
                reply = await here.client.click("wave")
                assert reply["status"] == "ok", reply
                here.merge(reply["response"]["diff"])
                assert here.feed() == ["Your wave could not be sent: try again in a moment."]

            redis.start()
            # Both tabs listed on both pages: this one is tracked once Redis is back, the
            # other written back by its process, and each page lists them again.
            for page in (here, there):
                await page.wait_until(
                    lambda page: not unavailable(page) and len(page.here()) == 2,
                    f"both tabs listed on {path}",
                    BACK,
                )
            assert sorted(names(here)) == sorted(names(there))
