"""The layout as a person on a phone meets it, and the samples' styles kept to themselves.

At 390 px wide (a phone) every page of the navigation stays reachable, and a
contact row's Edit and Delete stay in view while the rest of the row
scrolls. The samples' CSS is scoped to their pages: a ``.count`` in a view of
your own is not the counter's.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from playwright.async_api import Browser, Page

from {{ cookiecutter.package_name }}.db import Database
from {{ cookiecutter.package_name }}.models import Contact

from browsing import MAIN, open_live, wait_until, watched

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

PHONE = {"width": 390, "height": 844}
# Whether the element ``sel`` is inside the viewport and is what a tap at its centre hits.
TAPPABLE = """(sel) => {
    const el = document.querySelector(sel);
    const box = el.getBoundingClientRect();
    const x = box.left + box.width / 2, y = box.top + box.height / 2;
    return box.width > 0 && box.left >= 0 && box.right <= innerWidth &&
        el.contains(document.elementFromPoint(x, y));
}"""


@pytest_asyncio.fixture(loop_scope="session")
async def phone(browser: Browser, live_server: str) -> AsyncIterator[Page]:
    async with watched(browser, live_server) as context:
        page = await context.new_page()
        await page.set_viewport_size(PHONE)
        yield page


async def test_on_a_phone_every_page_of_the_navigation_is_reachable(phone: Page) -> None:
    await open_live(phone, "/")
    for path in ("/contacts", "/lobby", "/counter", "/dashboard"):
        link = f"header nav a[href='{path}']"
        assert await phone.evaluate(TAPPABLE, link), f"{path} cannot be tapped at 390 px"
    await phone.click("header nav a[href='/dashboard']")
    await wait_until(phone, "() => location.pathname === '/dashboard'")
    await wait_until(phone, "(sel) => !!document.querySelector(sel + ' #refreshes')", MAIN)


async def test_on_a_phone_a_contact_row_s_actions_stay_in_view(
    phone: Page, live_database: Database
) -> None:
    tag = uuid.uuid4().hex[:10]
    async with live_database.session() as session:
        session.add(
            Contact(
                name=f"Maximiliana Featherstonehaugh-Wolfeschlegel {tag}",
                email=f"maximiliana.featherstonehaugh.{tag}@a-rather-long-domain.example.com",
                company="An Uncommonly Long Company Name Limited",
            )
        )
    await open_live(phone, f"/contacts?q={tag}")
    await wait_until(phone, "() => document.querySelectorAll('#contact-rows tr').length === 1")
    for action in ("a.delete", "a[href$='/edit']"):
        selector = f"#contact-rows .actions {action}"
        assert await phone.evaluate(TAPPABLE, selector), f"{action} is out of view at 390 px"


async def test_the_counter_s_styles_leave_a_count_of_your_own_alone(phone: Page) -> None:
    await open_live(phone, "/counter")
    sizes = await phone.evaluate(
        """() => {
            const mine = document.createElement('p');
            mine.className = 'count';
            document.querySelector('main').append(mine);
            const size = (el) => getComputedStyle(el).fontSize;
            return [size(document.querySelector('.counter .count')), size(mine)];
        }"""
    )
    assert sizes[0] == "48px"  # the counter's big number
    assert sizes[1] != sizes[0]
