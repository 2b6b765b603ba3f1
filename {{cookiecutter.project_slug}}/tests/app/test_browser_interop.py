"""JS commands, hook replies and async loading states with the official client in Chromium.

The view and protocol tests show what the server sends; these show the
unmodified client does with it what the README promises: ``js.hide(…).push(…)``
hides in the browser and sends the event, a hook's ``pushEvent``
callback receives the dict ``handle_event`` returned, and the dashboard's
statistics show their loading state, then their figures or their failure.
"""

from __future__ import annotations

import asyncio
import threading
import typing as t
import uuid

import pytest
import pytest_asyncio
from playwright.async_api import Browser, BrowserContext, Page

from {{ cookiecutter.package_name }}.db import Database
from {{ cookiecutter.package_name }}.models import Attachment, Contact
from {{ cookiecutter.package_name }}.views import dashboard
from {{ cookiecutter.package_name }}.views.dashboard import DashboardLive

from browsing import WAIT_MS, answer_next_confirm, assert_sound, open_live, wait_until, watched
from outages import bring_back, take_down
{%- raw %}

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

# Installed in the page: what happens to element ``id`` and to frames carrying ``event``.
WATCH = """([event, id]) => {
    window.__seen = [];
    const send = WebSocket.prototype.send;
    WebSocket.prototype.send = function (data) {
        if (typeof data === "string" && data.includes(`"${event}"`)) window.__seen.push("pushed");
        return send.call(this, data);
    };
    const element = document.getElementById(id);
    element.addEventListener("phx:hide-end", () => window.__seen.push("hidden"));
}"""


@pytest_asyncio.fixture(loop_scope="session")
async def clipboard(browser: Browser, live_server: str) -> t.AsyncIterator[BrowserContext]:
    """A browser whose pages may use the clipboard (as after the person allowed it)."""
    async with watched(browser, live_server) as context:
        await context.grant_permissions(["clipboard-read", "clipboard-write"])
        yield context


async def add_contact(database: Database, files: int = 0) -> tuple[int, str, list[int]]:
    """A contact of this test's own, with ``files`` attachment rows; its id, email, file ids."""
    tag = uuid.uuid4().hex[:10]
    email = f"interop.{tag}@example.com"
    async with database.session() as session:
        contact = Contact(name=f"Interop {tag}", email=email)
        session.add(contact)
        await session.flush()
        attachments = [
            Attachment(
                contact_id=contact.id,
                filename=f"f{n}.pdf",
                content_type="application/pdf",
                size=10,
                stored_name=f"{tag}-{n}.pdf",
            )
            for n in range(files)
        ]
        session.add_all(attachments)
        await session.flush()
        return contact.id, email, [attachment.id for attachment in attachments]


# -- js --------------------------------------------------------------------------


async def test_a_confirmed_delete_hides_the_file_then_pushes(
    page: Page, live_database: Database
) -> None:
    contact_id, _, (first, second) = await add_contact(live_database, files=2)
    await open_live(page, f"/contacts/{contact_id}")
    await page.evaluate(WATCH, ["delete_file", f"file-{first}"])

    # Dismissed: nothing hidden, nothing sent.
    asked = answer_next_confirm(page, accept=False)
    await page.click(f"#file-{first} a.delete")
    assert asked == ["Delete f0.pdf?"]
    assert await page.is_visible(f"#file-{first}")
    assert await page.evaluate("window.__seen") == []

    # Confirmed: the browser hides the file (its next frame) and pushes the event at once;
    # the server's diff then removes it.
    asked = answer_next_confirm(page, accept=True)
    await page.click(f"#file-{first} a.delete")
    assert asked == ["Delete f0.pdf?"]
    await page.locator(f"#file-{first}").wait_for(state="detached", timeout=WAIT_MS)
    await wait_until(page, "() => window.__seen.length === 2")
    assert sorted(await page.evaluate("window.__seen")) == ["hidden", "pushed"]
    assert await page.is_visible(f"#file-{second}")
    await assert_sound(page)


async def test_a_delete_that_fails_shows_the_file_again(
    page: Page, live_database: Database, app_database_url: str
) -> None:
    """The server undoes the browser's hide: push_event("js-exec") runs the row's data-show."""
    contact_id, _, (file_id,) = await add_contact(live_database, files=1)
    await open_live(page, f"/contacts/{contact_id}")
    await page.evaluate(WATCH, ["delete_file", f"file-{file_id}"])
    await page.evaluate(
        """(id) => document.getElementById(id).addEventListener(
            "phx:show-end", () => window.__seen.push("shown"))""",
        f"file-{file_id}",
    )
    await take_down(app_database_url, "attachments")
    try:
        answer_next_confirm(page, accept=True)
        await page.click(f"#file-{file_id} a.delete")
        await page.locator("#flash-error").wait_for(timeout=WAIT_MS)
    finally:
        await bring_back(app_database_url, "attachments")
    await wait_until(page, "() => window.__seen.includes('shown')")
    assert await page.evaluate("window.__seen") == ["pushed", "hidden", "shown"]
    assert await page.is_visible(f"#file-{file_id}")
    await assert_sound(page)


# -- hooks -----------------------------------------------------------------------


async def test_the_copy_hook_copies_and_shows_the_server_s_reply(
    clipboard: BrowserContext, live_database: Database
) -> None:
    contact_id, email, _ = await add_contact(live_database)
    page = await clipboard.new_page()
    await open_live(page, f"/contacts/{contact_id}")
    assert await page.text_content("#copy-email") == "Copy"
    await page.click("#copy-email")
    # "Copied" is the reply's label: only the pushEvent callback could have put it there.
    await wait_until(page, "() => document.querySelector('#copy-email').textContent === 'Copied'")
    assert await page.evaluate("navigator.clipboard.readText()") == email
    await assert_sound(page)


# -- async -----------------------------------------------------------------------


async def test_the_statistics_show_loading_then_their_figures(
    page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    released = threading.Event()  # the live server runs in another thread, with its own loop
    original = dashboard.statistics

    async def held(db: Database, delay: float) -> dashboard.Statistics:
        await asyncio.to_thread(released.wait, WAIT_MS / 1000)
        return await original(db, 0.0)

    monkeypatch.setattr(dashboard, "statistics", held)
    try:
        await open_live(page, "/dashboard")
        assert await page.is_visible("#statistics-loading")  # connected, and still loading
        assert await page.get_attribute("#statistics", "aria-busy") == "true"
        released.set()
        await page.locator("#contacts-total").wait_for(timeout=WAIT_MS)
        assert not await page.is_visible("#statistics-loading")
        assert (await page.text_content("#contacts-total") or "").isdigit()
        await assert_sound(page)
    finally:
        released.set()


async def test_statistics_that_fail_say_so_and_the_page_stays_live(
    page: Page, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(DashboardLive, "report_time", 0.0)

    async def broken(db: Database, delay: float) -> dashboard.Statistics:
        raise OSError("the report server is away")

    monkeypatch.setattr(dashboard, "statistics", broken)
    await open_live(page, "/dashboard")
    await page.locator("#statistics-failed").wait_for(timeout=WAIT_MS)
    assert not await page.is_visible("#statistics-loading")
    await page.click("#pause")  # the view did not crash: it still answers
    await wait_until(page, "() => document.querySelector('#status').textContent === 'Paused.'")
    await assert_sound(page)
{%- endraw %}
