"""The contacts CRUD sample through the test client: the list's URL state, forms, live updates.

The list tests share one module database filled by the seed command's
deterministic sample, so every expected page is computed from the same
sample in Python. Tests that write get a fresh database each.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import typing as t
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import date
from pathlib import Path
from urllib.parse import urlencode

import pytest
import pytest_asyncio
from selectolax.lexbor import LexborHTMLParser
from sqlalchemy import delete, select, update
from starlette.applications import Starlette
from starlette.routing import Mount

from {{ cookiecutter.package_name }} import contacts
from {{ cookiecutter.package_name }} import db as db_module
from {{ cookiecutter.package_name }}.app import create_app
from {{ cookiecutter.package_name }}.contacts import SEARCH_MAX, TOPIC, broadcast
from {{ cookiecutter.package_name }}.createdb import create_database, drop_database
from {{ cookiecutter.package_name }}.db import Database
from {{ cookiecutter.package_name }}.live import RESYNC, LiveConfig
from {{ cookiecutter.package_name }}.live.testing import (
    HTTPError,
    LiveViewTest,
    Redirect,
    live,
    run_lifespan,
    scaled,
)
from {{ cookiecutter.package_name }}.models import Contact
from {{ cookiecutter.package_name }}.seed import sample_contacts, seed
from {{ cookiecutter.package_name }}.views import loading
from {{ cookiecutter.package_name }}.writes import TOO_FAST

from conftest import app_settings, as_string, unused_database, with_tables
from live_client import LiveClient, Reply
from outages import bring_back, take_down
from servers import serve

SAMPLE = 45  # rows in the list tests' database: three pages of 20


def app_on(database_url: str, **settings: t.Any) -> Starlette:
    return create_app(app_settings(database_url=database_url, **settings))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def seeded_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """A database holding the seed sample's first ``SAMPLE`` contacts, for reading only."""
    url = unused_database(tmp_path_factory.mktemp("contacts"))
    await create_database(url)
    try:
        database = await with_tables(as_string(url))
        await seed(database, SAMPLE)
        await database.dispose()
        yield as_string(url)
    finally:
        await drop_database(url)


@pytest.fixture
def listing(seeded_url: str) -> Starlette:
    return app_on(seeded_url)


@pytest.fixture
def app(database_url: str, database: Database) -> Starlette:
    return app_on(database_url)


async def add(database: Database, **fields: t.Any) -> int:
    """Insert a contact; its id."""
    contact = Contact(**{"name": "Ada Lovelace", "email": "ada@example.com", **fields})
    async with database.session() as session:
        session.add(contact)
    return contact.id


async def stored(database: Database, contact_id: int) -> Contact | None:
    async with database.session() as session:
        return await session.get(Contact, contact_id)


def expected(
    sort: str = "name", order: str = "asc", q: str = "", count: int = SAMPLE
) -> list[str]:
    """The sample's names, searched and sorted as the list does (``id`` breaks ties)."""
    rows = [(index + 1, contact) for index, contact in enumerate(sample_contacts(count))]
    words = q.lower().split()
    rows = [
        (id_, c)
        for id_, c in rows
        if all(any(w in f.lower() for f in (c.name, c.email, c.company)) for w in words)
    ]

    def key(row: tuple[int, Contact]) -> tuple[t.Any, int]:
        return getattr(row[1], sort), row[0]

    empty = [row for row in rows if getattr(row[1], sort) is None]  # last, either way
    rows = sorted((row for row in rows if row not in empty), key=key, reverse=order == "desc")
    return [contact.name for _, contact in rows + sorted(empty, key=key, reverse=order == "desc")]


def names(view: LiveViewTest) -> list[str]:
    return [node.text() for node in view.find("#contact-rows td.col-name a")]


# -- the list: URL state -------------------------------------------------------


async def test_the_list_shows_the_first_page_by_name(listing: Starlette) -> None:
    async with live(listing, "/contacts") as view:
        assert names(view) == expected()[:20]
        assert view.text("#total") == f"{SAMPLE} contacts"
        assert view.text("#page-of") == "Page 1 of 3"
        assert view.title == "Contacts"


async def test_the_http_render_already_shows_the_rows(listing: Starlette) -> None:
    """No flash of an empty table: the page is whole before the socket connects."""
    async with live(listing, "/contacts?per_page=10") as view:
        dead = LexborHTMLParser(view.dead_html)
    assert [node.text() for node in dead.css("#contact-rows td.col-name a")] == expected()[:10]


@pytest.mark.parametrize(
    ("query", "sort", "order", "page", "per_page"),
    [
        ("page=2", "name", "asc", 2, 20),
        ("sort=score&order=desc&per_page=10&page=3", "score", "desc", 3, 10),
        ("sort=email&order=asc&per_page=50", "email", "asc", 1, 50),
        ("sort=since&order=desc", "since", "desc", 1, 20),
        ("sort=status&page=2&per_page=10", "status", "asc", 2, 10),
    ],
)
async def test_paging_params_bind_from_the_url(
    listing: Starlette, query: str, sort: str, order: str, page: int, per_page: int
) -> None:
    async with live(listing, f"/contacts?{query}") as view:
        start = (page - 1) * per_page
        assert names(view) == expected(sort, order)[start : start + per_page]
        pages = -(-SAMPLE // per_page)
        assert view.text("#page-of") == f"Page {page} of {pages}"


async def test_next_and_previous_are_patches(listing: Starlette) -> None:
    async with live(listing, "/contacts?per_page=10") as view:
        await view.click("#next")
        assert view.path == "/contacts?page=2&per_page=10"
        assert names(view) == expected()[10:20]
        await view.click("#next")
        await view.click("#previous")
        assert view.path == "/contacts?page=2&per_page=10"
        assert names(view) == expected()[10:20]


async def test_a_column_header_sorts_and_flips_the_order(listing: Starlette) -> None:
    async with live(listing, "/contacts?page=2") as view:
        await view.click("th a", text="Score")
        assert view.path == "/contacts?sort=score"  # back to the first page
        assert names(view) == expected("score")[:20]
        assert view.text("th.col-score") == "Score ▲"
        await view.click("th a", text="Score ▲")
        assert view.path == "/contacts?sort=score&order=desc"
        assert names(view) == expected("score", "desc")[:20]


async def test_the_page_size_links(listing: Starlette) -> None:
    async with live(listing, "/contacts?page=3") as view:
        await view.click(".per-page a", text="50")
        assert view.path == "/contacts?per_page=50"
        assert len(names(view)) == SAMPLE
        assert not view.has("#next")


async def test_searching_filters_and_the_url_follows(listing: Starlette) -> None:
    word = sample_contacts(1)[0].name.split()[0]
    async with live(listing, "/contacts?page=2") as view:
        await view.change("#search", {"q": f"  {word.upper()} "})
        assert view.path == f"/contacts?q={word.upper()}"
        assert names(view) == expected(q=word)[:20]
        assert view.text("#total").endswith(f"matching “{word.upper()}”")
        await view.change("#search", {"q": ""})
        assert view.path == "/contacts"
        assert len(names(view)) == 20


@pytest.mark.parametrize("q", ["%", "_", "\\", "' OR 1=1 --", "%%__"])
async def test_search_is_literal(listing: Starlette, q: str) -> None:
    """Wildcards and quotes are searched for as text: no sample contact contains them."""
    async with live(listing, "/contacts") as view:
        await view.change("#search", {"q": q})
        assert names(view) == []
        assert view.text("#empty") == "No contact matches your search."


@pytest.mark.parametrize(
    ("query", "shows"),
    [
        ("sort=nope", "Page 1 of 3"),
        ("sort=name%3B%20DROP%20TABLE%20contacts", "Page 1 of 3"),
        ("order=asc--", "Page 1 of 3"),
        ("page=-1", "Page 1 of 3"),
        ("page=0", "Page 1 of 3"),
        ("page=99999", "Page 3 of 3"),
        ("page=" + "9" * 40, "Page 3 of 3"),
        ("per_page=1000000000", "Page 1 of 1"),
        ("per_page=0", "Page 1 of 5"),
        ("per_page=-7&page=2", "Page 2 of 5"),
        ("q=" + "x" * 10_000, "Page 1 of 1"),
        ("q=%00", "Page 1 of 3"),  # PostgreSQL refuses NUL in text: it never gets there
        ("q=%00%01%7F", "Page 1 of 3"),
    ],
)
async def test_hostile_params_are_clamped(listing: Starlette, query: str, shows: str) -> None:
    async with live(listing, f"/contacts?{query}") as view:
        if view.redirect is not None:  # a value out of bounds: to the URL of what is shown
            await view.follow_redirect()
        assert view.text("#page-of") == shows
        assert len(names(view)) <= 100
        clamped = view.path
    async with live(listing, clamped) as view:
        assert view.redirect is None  # the URL needs no more clamping
    async with live(listing, "/contacts") as view:
        assert len(names(view)) == 20  # the table is still there


@pytest.mark.parametrize(
    ("query", "url"),
    [
        ("per_page=100000", "/contacts?per_page=100"),
        ("per_page=-7&page=2&sort=email", "/contacts?page=2&per_page=10&sort=email"),
        ("sort=nope&q=%00ada", "/contacts?q=ada"),
    ],
)
async def test_a_clamped_value_is_reflected_in_the_url(
    listing: Starlette, query: str, url: str
) -> None:
    """The first render answers with a redirect to the URL of what the page shows."""
    async with live(listing, f"/contacts?{query}") as view:
        assert view.redirect == Redirect(url, "redirect")


async def test_a_live_patch_to_a_clamped_value_replaces_the_url(listing: Starlette) -> None:
    async with live(listing, "/contacts") as view:
        await view.patch("/contacts?per_page=100000&sort=email")  # a hand-made link
        assert view.path == "/contacts?per_page=100&sort=email"
        assert view.text("#page-of") == "Page 1 of 1"


@pytest.mark.parametrize(
    ("per_page", "rows", "pages"),
    [("1000", 100, 2), ("101", 100, 2), ("99", 100, 2), ("51", 100, 2), ("7", 10, 13)],
)
async def test_per_page_is_clamped_with_more_than_a_hundred_rows(
    app: Starlette, database: Database, per_page: str, rows: int, pages: int
) -> None:
    await seed(database, 130)
    async with live(app, f"/contacts?per_page={per_page}") as view:
        if view.redirect is not None:
            await view.follow_redirect()
        assert len(names(view)) == rows
        assert view.text("#page-of") == f"Page 1 of {pages}"
        assert view.text("#total") == "130 contacts"


async def test_control_characters_are_not_searched_for(listing: Starlette) -> None:
    word = sample_contacts(1)[0].name.split()[0]
    async with live(listing, "/contacts") as view:
        await view.hook("search", {"q": f"{word[:2]}\x00{word[2:]}"})
        assert names(view) == expected(q=word)[:20]


async def test_a_long_search_is_cut_to_its_limit(listing: Starlette) -> None:
    async with live(listing, "/contacts?q=" + "a" * 10_000) as view:
        assert view.redirect == Redirect(f"/contacts?q={'a' * SEARCH_MAX}", "redirect")
        await view.follow_redirect()
        assert view.element("#search input").attributes["value"] == "a" * SEARCH_MAX


async def test_the_list_works_under_a_path_prefix(listing: Starlette) -> None:
    """Mounted at /crm, every link and patch stays inside the app."""
    outer = Starlette(routes=[Mount("/crm", app=listing)])
    async with run_lifespan(listing) as state:
        async with live(
            outer, "/crm/contacts?per_page=10", lifespan=state, socket_path="/crm/live/websocket"
        ) as view:
            links = [node.attributes["href"] or "" for node in view.find("#contacts a")]
            links = [link for link in links if link != "#"]  # delete is a phx-click
            assert links and all(link.startswith("/crm/") for link in links), links
            await view.click("#next")
            assert view.path == "/crm/contacts?page=2&per_page=10"
            assert names(view) == expected()[10:20]
            await view.click("th a", text="Score")
            assert view.path == "/crm/contacts?per_page=10&sort=score"
            await view.change("#search", {"q": "ada"})
            assert view.path == "/crm/contacts?per_page=10&sort=score&q=ada"
            await view.click("#contact-rows td.col-name a")
            await view.follow_redirect()
            assert view.path.startswith("/crm/contacts/")
            assert view.element("#edit").attributes["href"] == view.path + "/edit"


async def test_a_page_that_is_not_a_number_is_a_400_page(listing: Starlette) -> None:
    with pytest.raises(HTTPError) as raised:
        async with live(listing, "/contacts?page=abc"):
            pass
    assert raised.value.status_code == 400
    page = LexborHTMLParser(raised.value.text)
    assert "page" in page.css_first(".error").text()
    assert page.css_first("header nav") is not None  # in the app's layout


# -- one contact ---------------------------------------------------------------


async def test_a_contact_that_does_not_exist_is_a_404_page(app: Starlette) -> None:
    with pytest.raises(HTTPError) as raised:
        async with live(app, "/contacts/4242"):
            pass
    assert raised.value.status_code == 404
    assert "no such contact" in LexborHTMLParser(raised.value.text).css_first(".error").text()


@pytest.mark.parametrize("contact_id", ["0", "2147483648", "9" * 30])
@pytest.mark.parametrize("suffix", ["", "/edit"])
async def test_an_id_no_contact_can_have_is_a_404_page(
    app: Starlette, contact_id: str, suffix: str
) -> None:
    with pytest.raises(HTTPError) as raised:
        async with live(app, f"/contacts/{contact_id}{suffix}"):
            pass
    assert raised.value.status_code == 404


@pytest.mark.parametrize("contact_id", ["2147483648", "9" * 30, "-1"])
async def test_deleting_an_id_no_contact_can_have_says_it_is_gone(
    app: Starlette, database: Database, contact_id: str
) -> None:
    await add(database)
    async with live(app, "/contacts") as view:
        await view.hook("delete", {"id": contact_id})
        assert view.text("#flash-error") == "That contact was already deleted."
        assert len(names(view)) == 1


async def test_a_deleted_contact_s_id_is_never_given_again(
    app: Starlette, database: Database
) -> None:
    """An old link to a deleted contact must not show someone else (SQLite's AUTOINCREMENT)."""
    first = await add(database)
    async with database.session() as session:
        await session.execute(delete(Contact).where(Contact.id == first))
    assert await add(database) != first


async def test_the_contact_page_shows_its_fields(app: Starlette, database: Database) -> None:
    contact_id = await add(
        database, company="Analytical Engines", score=97, since=date(1843, 9, 1), vip=True
    )
    async with live(app, f"/contacts/{contact_id}") as view:
        assert view.text("#contact-name") == "Ada Lovelace VIP"
        assert view.text("#contact-email") == "ada@example.com"
        assert view.text("#contact-score") == "97"
        assert view.text("#contact-since") == "1843-09-01"
        assert view.title == "Ada Lovelace"


async def test_the_copy_email_hook_gets_a_reply(app: Starlette, database: Database) -> None:
    contact_id = await add(database)
    async with live(app, f"/contacts/{contact_id}") as view:
        button = view.element("#copy-email")
        assert button.attributes["phx-hook"] == "CopyEmail"
        assert button.attributes["data-email"] == "ada@example.com"
        assert await view.hook("email_copied", {"email": "ada@example.com"}) == {"label": "Copied"}
        # Edited meanwhile elsewhere: the page copied what it showed, and says so.
        reply = await view.hook("email_copied", {"email": "old@example.com"})
        assert reply == {"label": "Copied an old address"}


async def test_a_patch_from_an_edit_form_to_a_new_one_is_a_fresh_form(
    app: Starlette, database: Database
) -> None:
    """Nothing of the contact being edited is left to save over."""
    contact_id = await add(database)
    async with live(app, f"/contacts/{contact_id}/edit") as view:
        redirect = await view.patch("/contacts/new")
        assert redirect is not None and redirect.to == "/contacts/new"
        await view.follow_redirect()
        assert view.title == "New contact"
        assert view.element("#contact-name").attributes["value"] == ""


@pytest.mark.parametrize("path", ["/contacts/{}", "/contacts/{}/edit"])
async def test_a_patch_to_another_contact_is_a_fresh_page(
    app: Starlette, database: Database, path: str
) -> None:
    """Its presence is tracked on the other contact's topic, not on both."""
    first = await add(database)
    second = await add(database, name="Grace Hopper", email="grace@example.com")
    async with live(app, path.format(first)) as view:
        redirect = await view.patch(path.format(second))
        assert redirect is not None
        assert (redirect.to, redirect.kind) == (path.format(second), "live_redirect")
        await view.follow_redirect()
        assert view.title.endswith("Grace Hopper")
        assert len(view.find("#whos-here li")) == 1


# -- forms -----------------------------------------------------------------------


async def test_a_new_form_shows_no_errors_before_it_is_used(app: Starlette) -> None:
    async with live(app, "/contacts/new") as view:
        assert not view.has(".field-error")
        await view.change("#contact-email", {"email": "ada"})
        # Only the field in use: the blank name is not complained about yet.
        assert view.text("#email-error") == "must look like name@example.com"
        assert not view.has("#name-error")
        assert view.element("#contact-email").attributes["aria-invalid"] == "true"


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"name": "   "}, "name", "can't be blank"),
        ({"name": "x" * 201}, "name", "must be at most 200 characters"),
        ({"score": "101"}, "score", "must be between 0 and 100"),
        ({"score": "-1"}, "score", "must be between 0 and 100"),
        ({"score": "2.5"}, "score", "must be a whole number"),
        ({"since": "31/05/2024"}, "since", "must be a date, like 2024-05-31"),
        ({"email": "a@b"}, "email", "must look like name@example.com"),
        ({"email": "İ" * 300 + "@example.com"}, "email", "must be at most 320 characters"),
        ({"name": "Ada\x00"}, "name", "must not contain control characters"),
        ({"company": "Tab\tCo"}, "company", "must not contain control characters"),
    ],
)
async def test_each_field_is_checked_as_it_is_typed(
    app: Starlette, fields: dict[str, str], field: str, message: str
) -> None:
    async with live(app, "/contacts/new") as view:
        await view.change(f"#contact-{field}", fields)
        assert view.text(f"#{field}-error") == message


async def test_values_no_browser_sends_are_refused(app: Starlette, database: Database) -> None:
    """A hand-made frame: a status the select does not offer, text in a number, a list."""
    async with live(app, "/contacts/new") as view:
        await view.hook(
            "save",
            {"name": ["Ada"], "email": "ada@example.com", "status": "boss", "score": "lots"}
            | {"vip": "maybe"},
        )
        assert view.text("#status-error") == "must be one of: lead, customer, partner"
        assert view.text("#score-error") == "must be a whole number"
        assert view.text("#name-error") == "can't be blank"
        assert view.text("#vip-error") == "must be yes or no"
        await view.hook("save", {"name": "Ada", "email": "ada@example.com", "since": "0"})
        assert view.text("#since-error") == "must be a date, like 2024-05-31"  # no timestamps
    async with database.session() as session:
        assert (await session.scalars(select(Contact))).all() == []


async def test_submitting_shows_every_error_and_keeps_what_was_typed(app: Starlette) -> None:
    async with live(app, "/contacts/new") as view:
        assert await view.submit("#contact-form", {"company": "Babbage & Co"}) is None
        assert view.text("#name-error") == "can't be blank"
        assert view.text("#email-error") == "can't be blank"
        assert view.element("#contact-company").attributes["value"] == "Babbage & Co"
        assert "disabled" not in view.element("#save").attributes


async def test_creating_saves_and_shows_the_contact(app: Starlette, database: Database) -> None:
    async with live(app, "/contacts/new") as view:
        redirect = await view.submit(
            "#contact-form",
            {
                "name": " Grace Hopper ",
                "email": "Grace@Navy.mil",
                "company": "US Navy",
                "status": "partner",
                "score": "88",
                "since": "1943-12-01",
                "vip": True,
            },
        )
        assert redirect is not None
        await view.follow_redirect()
        assert view.text("#flash-info") == "Grace Hopper was created."
        contact_id = int(view.path.rsplit("/", 1)[1])
    contact = await stored(database, contact_id)
    assert contact is not None
    assert (contact.name, contact.email, contact.company, contact.status) == (
        "Grace Hopper",
        "grace@navy.mil",
        "US Navy",
        "partner",
    )
    assert (contact.score, contact.since, contact.vip) == (88, date(1943, 12, 1), True)


async def test_fields_left_out_take_their_defaults(app: Starlette, database: Database) -> None:
    """Only name and email are needed: a frame without the rest saves a lead with score 0."""
    async with live(app, "/contacts/new") as view:
        await view.hook("save", {"name": "Ada", "email": "ada@example.com"})
        assert view.redirect is not None
    async with database.session() as session:
        contact = (await session.scalars(select(Contact))).one()
    assert (contact.status, contact.score, contact.since, contact.vip) == ("lead", 0, None, False)


async def test_editing_saves_the_changes(app: Starlette, database: Database) -> None:
    contact_id = await add(database, vip=True, since=date(1843, 9, 1))
    async with live(app, f"/contacts/{contact_id}/edit") as view:
        assert view.title == "Edit Ada Lovelace"
        assert view.element("#contact-since").attributes["value"] == "1843-09-01"
        await view.submit("#contact-form", {"name": "Ada King", "vip": False, "since": ""})
        await view.follow_redirect()
        assert view.text("#contact-name") == "Ada King"
    contact = await stored(database, contact_id)
    assert contact is not None
    assert (contact.name, contact.vip, contact.since) == ("Ada King", False, None)


async def test_a_taken_email_shows_on_its_field(app: Starlette, database: Database) -> None:
    await add(database, email="ada@example.com")
    async with live(app, "/contacts/new") as view:
        await view.submit("#contact-form", {"name": "Another Ada", "email": "ADA@example.com"})
        assert view.text("#email-error") == "is already taken by another contact"
        assert view.redirect is None


async def test_saving_a_contact_deleted_meanwhile_says_so(
    app: Starlette, database: Database
) -> None:
    contact_id = await add(database)
    async with live(app, f"/contacts/{contact_id}/edit") as view:
        async with database.session() as session:  # someone else, with no broadcast
            await session.execute(delete(Contact).where(Contact.id == contact_id))
        await view.submit("#contact-form", {"name": "Ada King"})
        assert view.text("#notice").startswith("Someone else deleted this contact")
        assert "disabled" in view.element("#save").attributes
    assert await stored(database, contact_id) is None


# -- delete ----------------------------------------------------------------------


async def test_deleting_from_the_list(app: Starlette, database: Database) -> None:
    keep = await add(database, name="Keep Me", email="keep@example.com")
    doomed = await add(database)
    async with live(app, "/contacts") as view:
        link = view.element(f"#contact-{doomed} a.delete")
        assert link.attributes["data-confirm"] == "Delete Ada Lovelace?"
        await view.click(f"#contact-{doomed} a.delete")
        assert not view.has(f"#contact-{doomed}")
        assert view.has(f"#contact-{keep}")
        assert view.text("#flash-info") == "Contact deleted."
    assert await stored(database, doomed) is None


async def test_deleting_from_the_contact_page(app: Starlette, database: Database) -> None:
    contact_id = await add(database)
    async with live(app, f"/contacts/{contact_id}") as view:
        await view.click("#delete")
        await view.follow_redirect()
        assert view.path == "/contacts"
        assert view.text("#flash-info") == "Ada Lovelace was deleted."
    assert await stored(database, contact_id) is None


# -- live across viewers ---------------------------------------------------------


@asynccontextmanager
async def pages(app: Starlette, *paths: str) -> AsyncIterator[list[LiveViewTest]]:
    """Several tabs in one running app (one lifespan: one pub/sub, one presence)."""
    async with run_lifespan(app) as state, AsyncExitStack() as stack:
        yield [await stack.enter_async_context(live(app, path, lifespan=state)) for path in paths]


async def test_a_save_updates_the_other_pages(app: Starlette, database: Database) -> None:
    contact_id = await add(database)
    paths = ["/contacts", f"/contacts/{contact_id}", f"/contacts/{contact_id}/edit"]
    async with pages(app, *paths) as (listing, shown, form):
        await form.submit("#contact-form", {"score": "77"})
        await listing.wait_for(f"#contact-{contact_id} td.col-score", text="77")
        await shown.wait_for("#contact-score", text="77")


async def test_an_editor_hears_when_someone_else_saves(
    app: Starlette, database: Database
) -> None:
    contact_id = await add(database)
    edit = f"/contacts/{contact_id}/edit"
    async with pages(app, edit, edit) as (saver, other):
        await saver.submit("#contact-form", {"score": "12"})
        notice = await other.wait_for("#notice")
        assert notice.text() == "Someone else saved this contact meanwhile."
        assert their_changes(other) == [("Score", "12")]
        assert "disabled" not in other.element("#save").attributes


def their_changes(form: LiveViewTest) -> list[tuple[str, str]]:
    """The fields someone else changed, as the form page lists them, and their values."""
    names = [node.text() for node in form.find("#their-changes dt")]
    return list(zip(names, [node.text() for node in form.find("#their-changes dd")], strict=True))


async def company_and_score(database: Database, contact_id: int) -> tuple[str, int]:
    contact = await stored(database, contact_id)
    assert contact is not None
    return contact.company, contact.score


async def test_a_stale_save_is_refused_until_their_values_are_taken_or_mine_kept(
    app: Starlette, database: Database
) -> None:
    contact_id = await add(database)  # Ada Lovelace, company "", score 0
    edit = f"/contacts/{contact_id}/edit"
    async with pages(app, edit, edit, edit) as (first, second, third):
        await second.change("#contact-form", {"score": "55"})  # typed, not saved yet
        await third.change("#contact-form", {"score": "66"})
        await first.submit("#contact-form", {"company": "Initech"})
        await second.wait_for("#their-changes")
        assert their_changes(second) == [("Company", "Initech")]

        await second.submit("#contact-form", {"score": "55"})  # over the version it loaded
        refused = "Someone else saved this contact meanwhile: nothing was saved."
        assert second.text("#notice") == refused
        assert await company_and_score(database, contact_id) == ("Initech", 0)

        await second.click("#take-theirs")  # their Company, its own Score
        assert not second.has("#their-changes")
        fields = "#contact-form input[name={}]"
        assert second.element(fields.format("company")).attributes["value"] == "Initech"
        assert second.element(fields.format("score")).attributes["value"] == "55"
        await second.submit("#contact-form", {})
        assert await company_and_score(database, contact_id) == ("Initech", 55)

        await third.wait_for("#their-changes")
        await third.click("#keep-mine")  # its own values win: it has seen what they were
        await third.submit("#contact-form", {"company": "Globex"})
        assert await company_and_score(database, contact_id) == ("Globex", 66)


async def test_a_form_restored_after_a_reconnection_does_not_save_over_another_save(
    app: Starlette, database: Database
) -> None:
    """The browser sends a restored form's values back to the view it rejoins, which has
    loaded the contact as saved since: the form's version says what they were typed over."""
    contact_id = await add(database)  # Ada Lovelace, company "", score 0: version 1
    edit = f"/contacts/{contact_id}/edit"
    async with run_lifespan(app) as state:
        async with live(app, edit, lifespan=state) as other:
            await other.submit("#contact-form", {"company": "Initech"})  # version 2
        async with live(app, edit, lifespan=state) as rejoined:
            # What the client sends (phx-auto-recover) of the form it had: its version too.
            typed_before = {**contacts.form_values(), "name": "Ada Lovelace", "score": "55"}
            typed_before |= {"email": "ada@example.com", "version": "1"}
            await rejoined.hook("recover", typed_before, target="#contact-form")
            await rejoined.submit("#contact-form", {})
            refused = "Someone else saved this contact meanwhile: nothing was saved."
            assert rejoined.text("#notice") == refused
            # Saved values where they differ from the form's (its version's are gone).
            assert their_changes(rejoined) == [("Company", "Initech"), ("Score", "0")]
            assert await company_and_score(database, contact_id) == ("Initech", 0)

            await rejoined.click("#keep-mine")
            await rejoined.submit("#contact-form", {})
            assert await company_and_score(database, contact_id) == ("", 55)


async def test_a_form_that_saves_again_before_the_browser_leaves_saves_over_its_own_save(
    database_url: str, database: Database
) -> None:
    """Its own save is not someone else's: a second save (a hook's, or one sent before the
    browser followed the first one's navigation) stands over the version the first made."""
    contact_id = await add(database)
    with serve(app_on(database_url), lifespan="on") as base_url:
        async with LiveClient.open(base_url, f"/contacts/{contact_id}/edit") as client:
            assert (await client.join())["status"] == "ok"
            topic = client.page.topic
            saves = [(topic, _save_event(name, "ada@example.com")) for name in ("Ada", "Ada K")]
            replies = await push_all(client, saves)
    assert all(_saved(reply) for reply in replies), replies
    async with database.session() as session:
        contact = await session.get(Contact, contact_id)
    assert contact is not None and (contact.name, contact.version) == ("Ada K", 3)


async def test_a_save_that_puts_back_what_was_there_clears_their_changes(
    app: Starlette, database: Database
) -> None:
    contact_id = await add(database)
    edit = f"/contacts/{contact_id}/edit"
    async with pages(app, edit, edit, edit) as (watcher, changer, restorer):
        await changer.submit("#contact-form", {"company": "Initech"})
        await watcher.wait_for("#their-changes")
        await restorer.wait_for("#their-changes")
        await restorer.click("#keep-mine")
        await restorer.submit("#contact-form", {"company": ""})  # as it was: nothing to choose
        await watcher.wait_for("#notice", text="Someone else saved this contact meanwhile.")
        await watcher.change("#contact-form", {"score": "7"})  # handled after the news
        assert not watcher.has("#their-changes")
        await watcher.submit("#contact-form", {})
        assert await company_and_score(database, contact_id) == ("", 7)


async def test_an_insert_keeps_the_page_size_and_the_sort(
    app: Starlette, database: Database
) -> None:
    for n in range(10):
        await add(database, name=f"Person {n:02}", email=f"p{n}@example.com")
    async with pages(app, "/contacts?per_page=10", "/contacts/new") as (listing, form):
        assert names(listing)[-1] == "Person 09"
        await form.submit("#contact-form", {"name": "Aaron First", "email": "aaron@example.com"})
        await listing.wait_for("#contact-rows td.col-name a", text="Aaron First")
        assert names(listing) == ["Aaron First", *(f"Person {n:02}" for n in range(9))]
        assert listing.text("#page-of") == "Page 1 of 2"


async def test_a_contact_created_elsewhere_is_one_row_on_the_wire(
    database_url: str, database: Database
) -> None:
    """The list is a stream: a new contact on its page is one inserted row (the row it pushes
    to the next page, one delete), and a delete one id, instead of the page's rows again."""
    ids = [await add(database, name=f"Person {n:02}", email=f"p{n}@example.com") for n in range(10)]
    with serve(app_on(database_url), lifespan="on") as base_url:
        async with LiveClient.open(base_url, "/contacts?per_page=10") as client:
            assert (await client.join())["status"] == "ok"
            form = await client.load("/contacts/new")
            assert (await client.join(page=form))["status"] == "ok"
            await client.push("event", _save_event("Aaron First", "aaron@example.com"), form.topic)
            created = await pushed_diff(client)
            new_id = stream_of(created)[1][0][0]
            assert stream_of(created) == ["contacts", [[new_id, 0, None]], [f"contact-{ids[9]}"]]
            # The row (its cells are its own slots: COLUMNS is a templates' constant), the counts.
            assert len(json.dumps(created, separators=(",", ":"))) <= 600

            reply = await client.click("delete", {"id": str(ids[0])})
            assert stream_of(reply["response"]["diff"]) == [
                "contacts",
                [[f"contact-{ids[9]}", 9, None]],  # back from the next page, at the bottom
                [f"contact-{ids[0]}"],
            ]


async def pushed_diff(client: LiveClient) -> dict[str, t.Any]:
    """The next diff pushed to the list's topic, kept meanwhile or still to come."""
    while True:
        frame = client.pushes.pop(0) if client.pushes else await client.receive()
        if frame.event == "diff" and frame.topic == client.page.topic:
            return t.cast(dict[str, t.Any], frame.payload)


def stream_of(diff: dict[str, t.Any]) -> list[t.Any]:
    """The ``stream`` entry of the list's rows, the only stream of the page."""
    found: list[list[t.Any]] = []
    nodes = [diff]
    while nodes:
        node = nodes.pop()
        found += [node["stream"]] if "stream" in node else []
        nodes += [value for value in node.values() if isinstance(value, dict)]
    assert len(found) == 1, diff
    return found[0]


async def test_a_save_that_moves_a_row_moves_it_in_the_list(
    app: Starlette, database: Database
) -> None:
    """A saved row is updated where it is, or moved where the sort puts it now."""
    ids = [await add(database, name=f"Person {n}", email=f"p{n}@example.com") for n in range(4)]
    paths = ["/contacts", f"/contacts/{ids[0]}/edit", f"/contacts/{ids[2]}/edit"]
    async with pages(app, *paths) as (listing, first, third):
        await third.submit("#contact-form", {"score": "9"})  # stays third
        await listing.wait_for(f"#contact-{ids[2]} td.col-score", text="9")
        await first.submit("#contact-form", {"name": "Zed"})  # sorts last now
        await listing.wait_for("#contact-rows td.col-name a", text="Zed")
        assert names(listing) == ["Person 1", "Person 2", "Person 3", "Zed"]


async def test_rows_moved_by_changes_announced_one_by_one_keep_the_sort(
    app: Starlette, database: Database
) -> None:
    """Two renames, both saved before either is announced: the first change seen moves
    both rows (the list shows the order as it is now), the second has nothing left to move."""
    ada = await add(database, name="Ada", email="ada@example.com")
    bob = await add(database, name="Bob", email="bob@example.com")
    cy = await add(database, name="Cy", email="cy@example.com")
    async with run_lifespan(app) as state, live(app, "/contacts", lifespan=state) as view:

        async def rename(contact_id: int, name: str) -> None:
            async with database.session() as session:
                await session.execute(
                    update(Contact).where(Contact.id == contact_id).values(name=name)
                )

        await rename(ada, "Zed")
        await rename(cy, "Aaa")
        await broadcast(state["pubsub"], "updated", ada)
        await broadcast(state["pubsub"], "updated", cy)
        await rename(bob, "Bea")  # a third change, handled last, shows both were handled
        await broadcast(state["pubsub"], "updated", bob)
        await view.wait_for("#contact-rows td.col-name a", text="Bea")
        async with live(app, "/contacts", lifespan=state) as fresh:
            assert names(view) == names(fresh) == ["Aaa", "Bea", "Zed"]

async def test_lists_showing_one_page_read_it_once_per_change(
    app: Starlette, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Twenty people on the first page and one on another: a change is one read of each
    page (twenty-one without sharing), and every list shows the change."""
    contact_id = await add(database)
    reads: list[contacts.PagingParams] = []
    list_contacts = contacts.list_contacts

    async def counted(session: t.Any, paging: contacts.PagingParams) -> contacts.Page:
        reads.append(paging.clamped())
        return await list_contacts(session, paging)

    monkeypatch.setattr(contacts, "list_contacts", counted)
    paths = ["/contacts"] * 20 + ["/contacts?sort=score"]
    async with run_lifespan(app) as state, AsyncExitStack() as stack:
        views = [await stack.enter_async_context(live(app, path, lifespan=state)) for path in paths]
        for company in ("Analytical Engines", "Difference Engines"):
            reads.clear()
            async with database.session() as session:
                await session.execute(
                    update(Contact).where(Contact.id == contact_id).values(company=company)
                )
            await broadcast(state["pubsub"], "updated", contact_id)
            for view in views:
                await view.wait_for(f"#contact-{contact_id} td.col-company", text=company)
            assert sorted(paging.sort for paging in reads) == ["name", "score"]


async def test_a_delete_removes_the_row_everywhere(app: Starlette, database: Database) -> None:
    contact_id = await add(database)
    async with pages(
        app, "/contacts", "/contacts", f"/contacts/{contact_id}", f"/contacts/{contact_id}/edit"
    ) as (deleting, other, shown, form):
        await deleting.click(f"#contact-{contact_id} a.delete")
        await other.wait_for("#empty")
        await shown.wait_for("#gone")
        assert shown.text("#flash-error") == "Someone else deleted this contact."
        await form.wait_for("#notice", text="Someone else deleted this contact")
        assert "disabled" in form.element("#save").attributes


async def test_an_update_heard_after_the_delete_says_deleted(
    app: Starlette, database: Database
) -> None:
    """Across processes the two broadcasts may come late: the page reads what is there now."""
    contact_id = await add(database)
    async with run_lifespan(app) as state:
        async with live(app, f"/contacts/{contact_id}", lifespan=state) as shown:
            async with database.session() as session:
                await session.execute(delete(Contact).where(Contact.id == contact_id))
            await broadcast(state["pubsub"], "updated", contact_id)
            await shown.wait_for("#gone")
            assert shown.text("#flash-error") == "Someone else deleted this contact."


async def test_a_contact_page_ignores_other_contacts_changes_and_deletes(
    app: Starlette, database: Database
) -> None:
    mine = await add(database, name="Ada Lovelace", email="ada@example.com")
    other = await add(database, name="Grace Hopper", email="grace@example.com")
    async with run_lifespan(app) as state:
        async with live(app, f"/contacts/{mine}", lifespan=state) as shown:
            async with database.session() as session:
                found = await session.get(Contact, other)
                assert found is not None
                found.name = "Someone Else"
            await broadcast(state["pubsub"], "updated", other)
            async with database.session() as session:
                await session.execute(delete(Contact).where(Contact.id == other))
            await broadcast(state["pubsub"], "deleted", other)
            # A change of its own, heard after the others: by then they were handled.
            async with database.session() as session:
                found = await session.get(Contact, mine)
                assert found is not None
                found.score = 42
            await broadcast(state["pubsub"], "updated", mine)
            await shown.wait_for("#contact-score", text="42")
            assert shown.text("#contact-name") == "Ada Lovelace"
            assert not shown.has("#gone") and not shown.has("#flash-error")
            assert shown.title == "Ada Lovelace"


async def test_a_deletion_skipped_under_a_burst_is_found_all_the_same(
    app: Starlette, database: Database
) -> None:
    """Past its backlog a page gets only the latest broadcast: it says others were skipped."""
    mine = await add(database, name="Ada Lovelace", email="ada@example.com")
    other = await add(database, name="Grace Hopper", email="grace@example.com")
    backlog = LiveConfig().info_backlog
    paths = [f"/contacts/{mine}", f"/contacts/{mine}/edit"]
    async with run_lifespan(app) as state, AsyncExitStack() as stack:
        shown, form = [
            await stack.enter_async_context(live(app, path, lifespan=state)) for path in paths
        ]
        async with database.session() as session:
            await session.execute(delete(Contact).where(Contact.id == mine))
        # Neither page runs before these are all sent (nothing here waits): the backlog fills
        # up, then the next change of another contact replaces "deleted" before it is handled.
        for _ in range(backlog - 1):
            await broadcast(state["pubsub"], "updated", other)
        await broadcast(state["pubsub"], "deleted", mine)
        await broadcast(state["pubsub"], "updated", other)
        await shown.wait_for("#gone")
        assert shown.text("#flash-error") == "Someone else deleted this contact."
        await form.wait_for("#notice", text="Someone else deleted this contact")


async def test_after_a_resync_every_page_shows_what_it_missed(
    app: Starlette, database: Database
) -> None:
    """A resync (the pub/sub was away: broadcasts were lost) makes each page read it all again."""
    contact_id = await add(database)
    paths = ["/contacts", f"/contacts/{contact_id}", f"/contacts/{contact_id}/edit"]
    async with run_lifespan(app) as state, AsyncExitStack() as stack:
        listing, shown, form, new = [
            await stack.enter_async_context(live(app, path, lifespan=state))
            for path in [*paths, "/contacts/new"]
        ]
        async with database.session() as session:  # a change no broadcast told of
            found = await session.get(Contact, contact_id)
            assert found is not None
            found.score = 64
        await state["pubsub"].broadcast(TOPIC, TOPIC, event=RESYNC)
        await listing.wait_for(f"#contact-{contact_id} td.col-score", text="64")
        await shown.wait_for("#contact-score", text="64")
        await form.wait_for("#notice", text="Someone else saved this contact meanwhile")
        assert form.element("#contact-form input[name=score]").attributes["value"] == "0"

        async with database.session() as session:
            await session.execute(delete(Contact).where(Contact.id == contact_id))
        await state["pubsub"].broadcast(TOPIC, TOPIC, event=RESYNC)
        await listing.wait_for("#empty")
        await shown.wait_for("#gone")
        await form.wait_for("#notice", text="Someone else deleted this contact")
        assert not new.find("#notice")


async def test_the_page_shown_follows_the_url_as_rows_come_and_go(
    app: Starlette, database: Database
) -> None:
    ids = [await add(database, email=f"p{n}@example.com") for n in range(25)]
    async with run_lifespan(app) as state:
        async with live(app, "/contacts?page=3&per_page=10", lifespan=state) as listing:
            assert listing.text("#page-of") == "Page 3 of 3"
            async with database.session() as session:  # 19 left: two pages
                await session.execute(delete(Contact).where(Contact.id.in_(ids[:6])))
            await broadcast(state["pubsub"], "deleted", ids[0])
            await listing.wait_for("#page-of", text="Page 2 of 2")
            new = [await add(database, email=f"back{n}@example.com") for n in range(2)]
            await broadcast(state["pubsub"], "created", new[-1])  # 21: three pages again
            await listing.wait_for("#page-of", text="Page 3 of 3")
            assert listing.path == "/contacts?page=3&per_page=10"


async def test_presence_shows_who_views_and_who_edits(app: Starlette, database: Database) -> None:
    contact_id = await add(database)
    async with run_lifespan(app) as state:
        async with live(app, f"/contacts/{contact_id}", lifespan=state) as viewer:
            async with live(app, f"/contacts/{contact_id}/edit", lifespan=state) as editor:
                editor_name = editor.text("#whos-here li small")
                assert editor_name == "editing"
                note = await viewer.wait_for(".editing")
                assert note.text().endswith("is editing this record.")
                assert len(viewer.find("#whos-here li")) == 2
            await viewer.wait_for("#whos-here li:only-child")
            assert not viewer.has(".editing")


# -- bursts: saves that lose a race, and clients that save too fast -------------------


@pytest.mark.slow
async def test_a_burst_of_saves_commits_each_or_says_why(
    database_url: str, database: Database
) -> None:
    """The issue's burst: 32 forms save at once while lists watch; none crashes.

    Each save either commits and navigates to the saved contact, or leaves
    the form showing why; what the database holds is exactly what was said.
    """
    ids = [await add(database, name=f"Old {n}", email=f"old{n}@example.com") for n in range(16)]
    paths = ["/contacts/new"] * 16 + [f"/contacts/{i}/edit" for i in ids] + ["/contacts"] * 4
    async with pages(app_on(database_url), *paths) as views:
        forms = views[:32]

        async def save(n: int, view: LiveViewTest) -> bool:
            await view.submit("#contact-form", {"name": f"New {n}", "email": f"new{n}@example.com"})
            assert view.redirect is not None or view.has("#form-error"), view.html
            return view.redirect is not None

        saved = await asyncio.gather(*(save(n, view) for n, view in enumerate(forms)))
        for listing in views[32:]:
            total = f"{16 + sum(saved[:16])} contacts"
            await listing.wait_for("#total", text=total, timeout=scaled(30))
    async with database.session() as session:
        names = set((await session.scalars(select(Contact.name))).all())
    assert names == {
        f"New {n}" if saved[n] else f"Old {n - 16}" for n in range(32) if saved[n] or n >= 16
    }
    assert all(saved), "SQLite and PostgreSQL take 32 saves at once: none needs to fail"


async def push_all(client: LiveClient, pushes: list[tuple[str, dict[str, t.Any]]]) -> list[Reply]:
    """Send every ``(topic, event payload)`` at once, as many forms of one page would; their
    replies, in order. One reader takes every frame and hands each reply to its push."""
    loop = asyncio.get_running_loop()
    waiting: dict[str, asyncio.Future[Reply]] = {}
    frames: list[str] = []

    async def read() -> None:
        while waiting:
            frame = await client.receive(timeout=scaled(60))
            frames.append(frame.event)
            if frame.event == "phx_reply" and frame.ref in waiting:
                waiting.pop(frame.ref).set_result(frame.payload)

    futures = []
    for topic, payload in pushes:
        ref = client.next_ref()
        waiting[ref] = future = loop.create_future()
        futures.append(future)
        await client.send(client.join_refs[topic], ref, topic, "event", payload)
    await asyncio.wait_for(read(), 120)
    assert "phx_error" not in frames
    return [future.result() for future in futures]


@pytest.mark.slow
async def test_sixteen_forms_on_one_socket_save_within_its_budget(
    database_url: str, database: Database
) -> None:
    """The issue's burst over a real WebSocket: 16 forms of one socket save 3 times each, at
    once. The socket's burst (20) commits, each said so; every other save is told to wait."""
    app = app_on(database_url, write_rate=0.001)  # no refill while the burst runs
    with serve(app, lifespan="on") as base_url:
        async with LiveClient.open(base_url, "/contacts/new") as client:
            pages = [client.page] + [await client.load("/contacts/new") for _ in range(15)]
            for page in pages:
                assert (await client.join(page=page))["status"] == "ok"
            pushes = [
                (page.topic, _save_event(f"P{n}.{k}", f"p{n}.{k}@example.com"))
                for k in range(3)
                for n, page in enumerate(pages)
            ]
            replies = await push_all(client, pushes)
    assert all(reply["status"] == "ok" for reply in replies), replies
    saved = [reply["response"]["live_redirect"]["to"] for reply in replies if _saved(reply)]
    refused = [reply for reply in replies if not _saved(reply)]
    assert (len(saved), len(refused)) == (20, 28)
    told: set[str] = set()  # each form shows the message once: later diffs leave it there
    for (topic, _), reply in zip(pushes, replies, strict=True):
        if not _saved(reply) and topic not in told:
            assert TOO_FAST in json.dumps(reply["response"].get("diff"), ensure_ascii=False)
            told.add(topic)
    async with database.session() as session:
        ids = set((await session.scalars(select(Contact.id))).all())
    assert {f"/contacts/{contact_id}" for contact_id in ids} == set(saved)


def _save_event(name: str, email: str) -> dict[str, t.Any]:
    """A ``phx-submit`` of the contact form, as the client sends it."""
    value = urlencode({"name": name, "email": email, "status": "lead", "score": "0"})
    return {"type": "form", "event": "save", "value": value, "meta": {}, "uploads": {}}


def _saved(reply: Reply) -> bool:
    return "live_redirect" in reply["response"]


@pytest.mark.slow
async def test_a_save_that_cannot_get_the_lock_is_a_form_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another writer holds SQLite's lock past the busy timeout: the form says so, no crash."""
    monkeypatch.setattr(db_module, "BUSY_TIMEOUT_MS", 50)
    path = tmp_path / "locked.db"
    url = f"sqlite+aiosqlite:///{path}"
    database = await with_tables(url)
    await database.dispose()
    async with live(app_on(url), "/contacts/new") as view:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            await view.submit("#contact-form", {"name": "Ada", "email": "ada@example.com"})
            assert view.text("#form-error") == "The database is busy: nothing was saved. Try again."
            assert view.redirect is None
        finally:
            other.rollback()
            other.close()
        await view.submit("#contact-form", {})  # the same values, once the lock is free
        assert view.redirect is not None


async def test_a_socket_that_writes_too_fast_is_told_to_wait(
    database_url: str, database: Database
) -> None:
    """Past its burst, a connection's writes are refused with a message until tokens refill."""
    ids = [await add(database, email=f"p{n}@example.com") for n in range(3)]
    app = app_on(database_url, write_burst=2, write_rate=0.001)
    async with live(app, "/contacts") as view:
        await view.click(f"#contact-{ids[0]} a.delete")
        await view.click(f"#contact-{ids[1]} a.delete")
        await view.click(f"#contact-{ids[2]} a.delete")
        assert view.text("#flash-error") == TOO_FAST
        assert view.has(f"#contact-{ids[2]}")
    assert await stored(database, ids[2]) is not None
    async with live(app, "/contacts/new") as form:  # another connection: a bucket of its own
        await form.submit("#contact-form", {"name": "Ada", "email": "ada@example.com"})
        assert form.redirect is not None


# -- outages: a page whose queries fail says so, and recovers by itself -------------


async def test_pages_whose_queries_fail_say_so_and_recover_by_themselves(
    database_url: str, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No crash, so no crash loop: each page shows that it could not load, keeps trying
    (less and less often), and shows the data again once the database is back."""
    monkeypatch.setattr(loading, "FIRST_DELAY", 0.05)
    monkeypatch.setattr(loading, "MAX_DELAY", 0.5)
    contact_id = await add(database, company="Analytical Engines")
    await database.dispose()
    app = app_on(database_url)
    async with run_lifespan(app) as state, AsyncExitStack() as stack:
        listing = await stack.enter_async_context(live(app, "/contacts", lifespan=state))
        path = f"/contacts/{contact_id}"
        shown = await stack.enter_async_context(live(app, path, lifespan=state))
        await take_down(database_url, "contacts")
        try:
            await broadcast(state["pubsub"], "updated", contact_id)  # both pages read again
            unavailable = await listing.wait_for("#unavailable", timeout=scaled(30))
            assert "could not be refreshed" in unavailable.text()
            assert names(listing) == ["Ada Lovelace"]  # what it showed stays
            await shown.wait_for("#unavailable", timeout=scaled(30))
            assert shown.text("#contact-name") == "Ada Lovelace"
            # A page opened now: its HTTP render and its join say so, and it saves nothing.
            form = await stack.enter_async_context(live(app, f"{path}/edit", lifespan=state))
            assert "could not be loaded" in form.text("#unavailable")
            assert "disabled" in form.element("#save").attributes
            await form.hook("save", {"name": "Blank Over It", "email": "blank@example.com"})
            assert form.text("#form-error").startswith("This contact could not be loaded yet")
        finally:
            await bring_back(database_url, "contacts")
        await listing.wait_for("#contacts:not(:has(#unavailable))", timeout=scaled(30))
        assert listing.text("#total") == "1 contact"
        await shown.wait_for("#contact:not(:has(#unavailable))", timeout=scaled(30))
        assert shown.text("#contact-email") == "ada@example.com"
        await form.wait_for("h1", text="Edit Ada Lovelace", timeout=scaled(30))
        assert not form.has("#unavailable")
        assert form.element("#contact-company").attributes["value"] == "Analytical Engines"
        await form.submit("#contact-form", {"score": "5"})
        assert form.redirect is not None
    contact = await stored(database, contact_id)
    assert contact is not None and (contact.name, contact.score) == ("Ada Lovelace", 5)


async def test_try_again_reloads_at_once(
    database_url: str, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The person need not wait for the next retry: the button reads again now."""
    monkeypatch.setattr(loading, "FIRST_DELAY", 3600.0)  # no retry by itself in this test
    monkeypatch.setattr(loading, "MAX_DELAY", 3600.0)
    contact_id = await add(database)
    await database.dispose()
    app = app_on(database_url)
    await take_down(database_url, "contacts")
    down = True
    try:
        async with live(app, f"/contacts/{contact_id}") as shown:  # opened during the outage
            assert "could not be loaded" in shown.text("#unavailable")
            assert not shown.has("#contact-email")
            await shown.click("#retry")  # still down: still says so
            assert shown.has("#unavailable")
            await bring_back(database_url, "contacts")
            down = False
            await shown.click("#retry")
            assert not shown.has("#unavailable")
            assert shown.text("#contact-name") == "Ada Lovelace"
            assert shown.title == "Ada Lovelace"
    finally:
        if down:
            await bring_back(database_url, "contacts")
