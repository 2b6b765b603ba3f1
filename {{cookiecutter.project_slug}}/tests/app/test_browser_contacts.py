"""The contacts sample in headless Chromium, as two people using it at once see it.

The protocol and view tests show what the server sends; these show that the
official client, driven like a person drives it, gets the promised pages: a
write in one browser reaches the other without a reload, presence names who
is editing, paging, sorting and search live in the URL (and the Back button),
``data-confirm`` guards deletes, and a form with errors stays usable.

The live server's database is shared with other test files, so each test
makes its own rows under a unique tag and only looks at the list filtered by
it (``?q=<tag>``). ``window.__marker`` is set before a page is expected to
change by itself or by a live patch: a full page load would drop it.
"""

from __future__ import annotations

import json
import typing as t
import uuid

import pytest
from playwright.async_api import BrowserContext, Page, WebSocket
from playwright.async_api import TimeoutError as PlaywrightTimeoutError
from sqlalchemy import func, select, update

from {{ cookiecutter.package_name }}.db import Database
from {{ cookiecutter.package_name }}.models import Contact

from browsing import (
    HERE,
    WAIT_MS,
    answer_next_confirm,
    assert_no_reload,
    assert_sound,
    open_live,
    set_marker,
    wait_until,
)
from outages import bring_back, take_down

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

# The names in the list, top to bottom.
ROW_NAMES = """() => [...document.querySelectorAll('#contact-rows td.col-name a')]
    .map((a) => a.textContent)"""


# -- fixtures --------------------------------------------------------------------


@pytest.fixture
def tag() -> str:
    """A word only this test's contacts contain: searching for it hides everyone else's."""
    return uuid.uuid4().hex[:10]


# -- helpers ---------------------------------------------------------------------


async def add_contacts(database: Database, *contacts: Contact) -> list[int]:
    """Insert ``contacts`` (before the pages that show them open: nothing is broadcast)."""
    async with database.session() as session:
        session.add_all(contacts)
        await session.flush()
        return [contact.id for contact in contacts]


async def count_contacts(database: Database, *where: t.Any) -> int:
    async with database.session() as session:
        return await session.scalar(select(func.count()).select_from(Contact).where(*where)) or 0


async def expect_rows(page: Page, names: list[str], /, **query: str | None) -> None:
    """The list shows exactly ``names``, and the URL's query has ``query`` (None: absent)."""
    try:
        await wait_until(
            page,
            f"""([names, query]) => JSON.stringify(({ROW_NAMES})()) === JSON.stringify(names) &&
                Object.entries(query).every(
                    ([key, value]) => new URLSearchParams(location.search).get(key) === value)""",
            [names, query],
        )
    except PlaywrightTimeoutError:
        shown = await page.evaluate(ROW_NAMES)
        search = await page.evaluate("location.search")
        pytest.fail(f"expected rows {names} with {query}, the page shows {shown} at {search!r}")
    await assert_sound(page)


async def expect_text(page: Page, selector: str, text: str) -> None:
    """The element ``selector`` exists and its whole text is ``text``."""
    try:
        await wait_until(
            page,
            "([sel, text]) => document.querySelector(sel)?.textContent.trim() === text",
            [selector, text],
        )
    except PlaywrightTimeoutError:
        found = await page.locator(selector).all_text_contents()
        pytest.fail(f"expected {selector} to say {text!r}, found {found}")


def sent_events(page: Page) -> list[dict[str, t.Any]]:
    """Every LiveView event (click, form…) the page sends from now on, as its payloads.

    Call it before the page loads: the WebSocket is watched from its opening.
    """
    events: list[dict[str, t.Any]] = []

    def on_frame(payload: str | bytes) -> None:
        frame = json.loads(payload)  # [join_ref, ref, topic, event, payload]
        if isinstance(frame, list) and len(frame) == 5 and frame[3] == "event":
            events.append(frame[4])

    def on_websocket(websocket: WebSocket) -> None:
        websocket.on("framesent", on_frame)

    page.on("websocket", on_websocket)
    return events


async def my_name(page: Page) -> str:
    """The name the "who's here" panel gives this page (its "(you)" line)."""
    mine = page.locator("#whos-here li", has_text="(you)")
    await mine.wait_for(timeout=WAIT_MS)
    return (await mine.text_content() or "").split(" (you)")[0].strip()


async def form_settled(page: Page) -> None:
    """The form answered: it is not left loading, and Save is enabled and reads "Save"."""
    await wait_until(
        page,
        """() => !document.querySelector('#contact-form').className.includes('loading') &&
            !document.querySelector('#save').disabled &&
            document.querySelector('#save').textContent === 'Save'""",
    )


async def field_error(page: Page, field: str) -> str:
    """The error shown inside the label of the field ``field``."""
    error = page.locator(f"label[for='contact-{field}'] .field-error")
    await error.wait_for(timeout=WAIT_MS)
    assert await page.get_attribute(f"#contact-{field}", "aria-invalid") == "true"
    return (await error.text_content() or "").strip()


# -- writes reach every page -------------------------------------------------------


async def test_a_created_contact_appears_in_the_other_pages_list(
    page: Page, other: BrowserContext, tag: str
) -> None:
    watcher = await other.new_page()
    await open_live(watcher, f"/contacts?q={tag}")
    await expect_text(watcher, "#empty", "No contact matches your search.")
    await set_marker(watcher)

    name = f"Ada Lovelace {tag}"
    await open_live(page, "/contacts/new")
    await set_marker(page)
    await page.fill("#contact-name", name)
    await page.fill("#contact-email", f"ada.{tag}@example.com")
    await page.fill("#contact-company", "Analytical Engines")
    await page.select_option("#contact-status", "customer")
    await page.fill("#contact-score", "88")
    await page.click("#save")

    # The author lands on the new contact's page, with the flash, without a reload.
    await wait_until(page, r"() => /^\/contacts\/\d+$/.test(location.pathname)")
    await expect_text(page, "#flash-info", f"{name} was created.")
    await expect_text(page, "#contact-name", name)
    await expect_text(page, "#contact-email", f"ada.{tag}@example.com")
    await expect_text(page, "#contact-status", "customer")
    await expect_text(page, "#contact-score", "88")
    await assert_sound(page)
    await assert_no_reload(page)
    contact_id = int((await page.evaluate("location.pathname")).rsplit("/", 1)[1])

    # The other person's list shows it as it is saved.
    await expect_rows(watcher, [name], q=tag)
    await expect_text(watcher, f"#contact-{contact_id} td.col-score", "88")
    await expect_text(watcher, f"#contact-{contact_id} td.col-company", "Analytical Engines")
    await expect_text(watcher, "#total", f"1 contact matching “{tag}”")
    assert await watcher.locator("#empty").count() == 0
    await assert_no_reload(watcher)


async def test_an_edit_reaches_the_other_pages_record_and_list(
    page: Page, other: BrowserContext, live_database: Database, tag: str
) -> None:
    (contact_id,) = await add_contacts(
        live_database, Contact(name=f"Grace {tag}", email=f"grace.{tag}@example.com", score=10)
    )
    record, listing = await other.new_page(), await other.new_page()
    await open_live(record, f"/contacts/{contact_id}")
    await open_live(listing, f"/contacts?q={tag}")
    await expect_rows(listing, [f"Grace {tag}"])
    for watcher in (record, listing):
        await set_marker(watcher)

    new_name = f"Grace Hopper {tag}"
    await open_live(page, f"/contacts/{contact_id}/edit")
    await expect_text(page, "h1", f"Edit Grace {tag}")
    await page.fill("#contact-name", new_name)
    await page.fill("#contact-score", "77")
    await page.click("#save")
    await wait_until(page, "(path) => location.pathname === path", f"/contacts/{contact_id}")
    await expect_text(page, "#flash-info", f"{new_name} was updated.")
    await expect_text(page, "#contact-score", "77")

    await expect_text(record, "#contact-name", new_name)
    await expect_text(record, "#contact-score", "77")
    await wait_until(record, "(title) => document.title === title", new_name)
    await assert_sound(record)
    await expect_rows(listing, [new_name])
    await expect_text(listing, f"#contact-{contact_id} td.col-score", "77")
    for watcher in (record, listing):
        await assert_no_reload(watcher)


async def test_two_editors_a_stale_save_is_refused_and_their_values_taken(
    page: Page, other: BrowserContext, live_database: Database, tag: str
) -> None:
    (contact_id,) = await add_contacts(
        live_database, Contact(name=f"Ada {tag}", email=f"ada.{tag}@example.com", score=10)
    )
    edit = f"/contacts/{contact_id}/edit"
    second = await other.new_page()
    for editor in (page, second):
        await open_live(editor, edit)
        await form_settled(editor)
    await second.fill("#contact-score", "55")  # typed while the other person saves

    await page.fill("#contact-company", "Initech")
    await page.click("#save")
    await wait_until(page, "(path) => location.pathname === path", f"/contacts/{contact_id}")

    await expect_text(second, "#their-changes dd", "Initech")
    await expect_text(second, "#their-changes dt", "Company")
    await second.click("#save")  # over the version it loaded: refused
    refused = "Someone else saved this contact meanwhile: nothing was saved."
    await expect_text(second, "#notice", refused)
    await second.click("#take-theirs")
    await wait_until(second, "() => !document.querySelector('#their-changes')")
    assert await second.input_value("#contact-company") == "Initech"
    assert await second.input_value("#contact-score") == "55"
    await second.click("#save")
    await wait_until(second, "(path) => location.pathname === path", f"/contacts/{contact_id}")
    await expect_text(second, "#contact-score", "55")
    async with live_database.session() as session:
        saved = await session.get(Contact, contact_id)
        assert saved is not None and (saved.company, saved.score) == ("Initech", 55)
    await assert_sound(second)


async def test_rows_moved_by_edits_announced_one_by_one_keep_the_sort(
    page: Page, other: BrowserContext, live_database: Database, tag: str
) -> None:
    """A rename saved before another one is announced: the list still ends up sorted."""
    ada, _, cy = await add_contacts(
        live_database,
        *(
            Contact(name=f"{name} {tag}", email=f"{name}.{tag}@example.com")
            for name in ("Ada", "Bob", "Cy")
        ),
    )
    listing = await other.new_page()
    await open_live(listing, f"/contacts?q={tag}")
    await expect_rows(listing, [f"Ada {tag}", f"Bob {tag}", f"Cy {tag}"])
    await set_marker(listing)
    async with live_database.session() as session:  # saved, announced only by the next edit
        await session.execute(update(Contact).where(Contact.id == cy).values(name=f"Aaa {tag}"))
    for contact_id, field, value in ((ada, "name", f"Zed {tag}"), (cy, "score", "5")):
        await open_live(page, f"/contacts/{contact_id}/edit")
        await page.fill(f"#contact-{field}", value)
        await page.click("#save")
        await wait_until(page, "(path) => location.pathname === path", f"/contacts/{contact_id}")
    await expect_text(listing, f"#contact-{cy} td.col-score", "5")  # both edits were handled
    await expect_rows(listing, [f"Aaa {tag}", f"Bob {tag}", f"Zed {tag}"])
    await assert_no_reload(listing)

async def test_delete_asks_first_and_a_dismissed_confirm_sends_nothing(
    page: Page, other: BrowserContext, live_database: Database, tag: str
) -> None:
    drop, keep = await add_contacts(
        live_database,
        Contact(name=f"Drop {tag}", email=f"drop.{tag}@example.com"),
        Contact(name=f"Keep {tag}", email=f"keep.{tag}@example.com"),
    )
    events = sent_events(page)
    watcher = await other.new_page()
    await open_live(watcher, f"/contacts?q={tag}")
    await open_live(page, f"/contacts?q={tag}")
    for browser_page in (page, watcher):
        await expect_rows(browser_page, [f"Drop {tag}", f"Keep {tag}"])
        await set_marker(browser_page)

    dismissed = answer_next_confirm(page, accept=False)
    await page.click(f"#contact-{keep} a.delete")
    assert dismissed == [f"Delete Keep {tag}?"]

    accepted = answer_next_confirm(page, accept=True)
    await page.click(f"#contact-{drop} a.delete")
    assert accepted == [f"Delete Drop {tag}?"]
    await expect_rows(page, [f"Keep {tag}"])
    await expect_text(page, "#flash-info", "Contact deleted.")
    await expect_text(page, "#total", f"1 contact matching “{tag}”")
    await expect_rows(watcher, [f"Keep {tag}"])
    for browser_page in (page, watcher):
        await assert_no_reload(browser_page)

    # Frames go out in order: the dismissed click would have been sent before this one.
    deletes = [event for event in events if event.get("event") == "delete"]
    assert [event["value"] for event in deletes] == [{"id": str(drop)}]
    assert await count_contacts(live_database, Contact.id.in_([drop, keep])) == 1
    assert await count_contacts(live_database, Contact.id == keep) == 1


# -- presence ----------------------------------------------------------------------


async def test_the_record_shows_who_is_editing_it_until_they_leave(
    page: Page, other: BrowserContext, live_database: Database, tag: str
) -> None:
    (contact_id,) = await add_contacts(
        live_database, Contact(name=f"Edsger {tag}", email=f"edsger.{tag}@example.com")
    )
    await open_live(page, f"/contacts/{contact_id}")
    viewer = await my_name(page)
    assert await page.locator(".editing").count() == 0

    editor_page = await other.new_page()
    await open_live(editor_page, f"/contacts/{contact_id}/edit")
    editor = await my_name(editor_page)
    assert editor and viewer and editor != viewer

    await expect_text(page, ".editing", f"{editor} is editing this record.")
    await wait_until(page, HERE, f"{viewer} (you)")
    await wait_until(page, HERE, f"{editor} editing")
    await wait_until(editor_page, HERE, viewer)  # the editor sees the viewer too
    await assert_sound(page)

    await editor_page.close()  # the tab goes: its socket closes, the runtime untracks it
    await page.locator(".editing").wait_for(state="detached", timeout=WAIT_MS)
    await wait_until(page, f"(name) => !({HERE})(name)", editor)
    await wait_until(page, HERE, viewer)
    await assert_sound(page)


# -- the list: paging, sorting, search ---------------------------------------------------


async def test_paging_and_sorting_live_in_the_url_and_back_walks_them(
    page: Page, live_database: Database, tag: str
) -> None:
    # Scores are all different and in another order than the names.
    scores = {f"{tag} Person {i:02d}": (i * 7) % 25 * 4 for i in range(25)}
    await add_contacts(
        live_database,
        *(
            Contact(name=name, email=f"p{score}.{tag}@example.com", score=score)
            for name, score in scores.items()
        ),
    )
    by_name = sorted(scores)
    by_score = sorted(scores, key=scores.__getitem__)

    await open_live(page, f"/contacts?q={tag}&per_page=10")
    await expect_rows(page, by_name[:10], page=None)
    await expect_text(page, "#page-of", "Page 1 of 3")
    await expect_text(page, "#total", f"25 contacts matching “{tag}”")
    await set_marker(page)

    await page.click("#next")
    await expect_rows(page, by_name[10:20], page="2", per_page="10", q=tag)
    await expect_text(page, "#page-of", "Page 2 of 3")

    await page.click("th.col-score a")  # sorting starts again at page 1
    await expect_rows(page, by_score[:10], page=None, sort="score", order=None, q=tag)
    await expect_text(page, "th.col-score", "Score ▲")
    await page.click("th.col-score a")  # the same header again: the order flips
    await expect_rows(page, by_score[::-1][:10], sort="score", order="desc", q=tag)
    await expect_text(page, "th.col-score", "Score ▼")
    await assert_no_reload(page)

    await page.go_back()
    await expect_rows(page, by_score[:10], sort="score", order=None)
    await page.go_back()
    await expect_rows(page, by_name[10:20], page="2", sort=None)
    await expect_text(page, "#page-of", "Page 2 of 3")
    await page.go_back()
    await expect_rows(page, by_name[:10], page=None, per_page="10")
    await assert_no_reload(page)


async def test_a_list_whose_database_fails_says_so_and_comes_back(
    page: Page, live_database: Database, app_database_url: str, tag: str
) -> None:
    """The official client sees no crash: the page stays connected, says it could not load,
    and shows the rows again once the database is back (here at once, with "Try again")."""
    names = [f"{tag} Ada", f"{tag} Grace"]
    emails = [f"{i}.{tag}@example.com" for i in range(len(names))]
    contacts = [Contact(name=n, email=e) for n, e in zip(names, emails, strict=True)]
    await add_contacts(live_database, *contacts)
    await live_database.dispose()
    await open_live(page, f"/contacts?q={tag}")
    await expect_rows(page, names, q=tag)
    await set_marker(page)

    await take_down(app_database_url, "contacts")
    try:
        await page.click("th.col-name a")  # a live patch: its query fails
        await page.locator("#unavailable").wait_for()
        await expect_rows(page, names, order="desc", q=tag)  # what it showed stays
    finally:
        await bring_back(app_database_url, "contacts")
    await page.click("#retry")
    await page.locator("#unavailable").wait_for(state="detached")
    await expect_rows(page, names[::-1], order="desc", q=tag)
    await assert_no_reload(page)


async def test_typing_in_the_search_box_filters_live_and_the_url_follows(
    page: Page, live_database: Database, tag: str
) -> None:
    await add_contacts(
        live_database,
        Contact(name=f"Alpha {tag}", email=f"alpha.{tag}@example.com"),
        Contact(name=f"Beta {tag}", email=f"beta.{tag}@example.com", company="Alphabet"),
        Contact(name=f"Gamma {tag}", email=f"gamma.{tag}@example.com"),
    )
    events = sent_events(page)
    await open_live(page, "/contacts?per_page=100")
    await set_marker(page)
    search = page.locator("#search input[name=q]")

    await search.press_sequentially(tag, delay=40)
    await expect_rows(page, [f"Alpha {tag}", f"Beta {tag}", f"Gamma {tag}"], q=tag)
    await search.press_sequentially(" alpha", delay=40)  # the company matches too
    await expect_rows(page, [f"Alpha {tag}", f"Beta {tag}"], q=f"{tag} alpha")
    await expect_text(page, "#total", f"2 contacts matching “{tag} alpha”")
    await search.press_sequentially("bet", delay=40)  # "alphabet": only the company
    await expect_rows(page, [f"Beta {tag}"], q=f"{tag} alphabet")
    await search.fill(f"{tag} nobody")
    await expect_rows(page, [], q=f"{tag} nobody")
    await expect_text(page, "#empty", "No contact matches your search.")
    await assert_no_reload(page)

    # Debounced: the keys typed in a burst went out as a few searches, not one per key.
    typed = len(tag) + len(" alpha") + len("bet") + 1
    searches = [event for event in events if event.get("event") == "search"]
    assert 4 <= len(searches) < typed / 2, searches


# -- the form ----------------------------------------------------------------------


async def test_bad_values_show_their_errors_and_the_form_stays_usable(
    page: Page, live_database: Database, tag: str
) -> None:
    await open_live(page, "/contacts/new")
    await page.fill("#contact-email", "bad")
    await page.fill("#contact-score", "500")
    # Checked as the person types, each next to its own field; untouched fields stay quiet.
    assert await field_error(page, "email") == "must look like name@example.com"
    assert await field_error(page, "score") == "must be between 0 and 100"
    assert await page.locator("label[for='contact-name'] .field-error").count() == 0

    await page.click("#save")  # saving checks every field: the blank name too
    assert await field_error(page, "name") == "can't be blank"
    await form_settled(page)
    assert await field_error(page, "email") == "must look like name@example.com"
    assert await field_error(page, "score") == "must be between 0 and 100"
    assert await page.evaluate("location.pathname") == "/contacts/new"
    await assert_sound(page)

    name = f"Barbara Liskov {tag}"
    await page.fill("#contact-name", name)
    await page.fill("#contact-email", f"barbara.{tag}@example.com")
    await page.fill("#contact-score", "100")
    await page.locator(".field-error").first.wait_for(state="detached", timeout=WAIT_MS)
    await page.click("#save")
    await wait_until(page, r"() => /^\/contacts\/\d+$/.test(location.pathname)")
    await expect_text(page, "#flash-info", f"{name} was created.")
    await expect_text(page, "#contact-score", "100")
    barbara = Contact.email == f"barbara.{tag}@example.com"
    assert await count_contacts(live_database, barbara) == 1


async def test_a_taken_email_is_refused_under_the_email_field(
    page: Page, live_database: Database, tag: str
) -> None:
    email = f"taken.{tag}@example.com"
    await add_contacts(live_database, Contact(name=f"First {tag}", email=email))
    await open_live(page, "/contacts/new")
    await page.fill("#contact-name", f"Second {tag}")
    await page.fill("#contact-email", email.upper())  # emails are kept in lower case
    await page.click("#save")

    assert "is already taken" in await field_error(page, "email")
    await form_settled(page)
    assert await page.evaluate("location.pathname") == "/contacts/new"
    assert await page.input_value("#contact-name") == f"Second {tag}"
    assert await count_contacts(live_database, Contact.email == email) == 1
    await assert_sound(page)


async def test_a_value_out_of_bounds_in_the_address_bar_is_replaced_by_what_is_shown(
    page: Page, tag: str
) -> None:
    await open_live(page, f"/contacts?per_page=100000&q={tag}")
    assert await page.evaluate("location.search") == f"?per_page=100&q={tag}"
    assert await page.text_content(".per-page strong") == "100"
