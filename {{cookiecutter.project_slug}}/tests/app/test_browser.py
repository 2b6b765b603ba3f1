"""The official LiveView client in headless Chromium against the live server.

Protocol tests show the server answers frames as Phoenix would; these show the
unmodified client actually works with it: it connects, patches the DOM from
our diffs, live-patches and live-navigates without reloading the page, and
keeps ``document.title`` in step. ``window.__marker`` is set before each live
patch or navigation: a full page load would drop it. After every step the
container must not contain ``undefined``, which is how the client renders a
slot that a diff left out.
"""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Page

from browsing import (
    HERE,
    MAIN,
    WAIT_MS,
    assert_no_reload,
    assert_sound,
    open_live,
    set_marker,
    wait_until,
    watched,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

async def expect_counter(page: Page, count: int, search: str | None = None) -> None:
    """The counter and the title show ``count``; the URL's query is ``search`` if given."""
    await wait_until(
        page,
        """([count, title, search]) =>
            document.querySelector('#count')?.textContent === count &&
            document.title === title &&
            (search === null || location.search === search)""",
        [str(count), f"Count: {count}", search],
    )
    await assert_sound(page)


async def expect_step(page: Page, step: int) -> None:
    await wait_until(
        page, "(label) => document.querySelector('#increment')?.textContent === label", f"+ {step}"
    )
    await assert_sound(page)


async def test_page_connects(page: Page) -> None:
    await open_live(page, "/counter")
    await expect_counter(page, 0)
    assert await page.locator(MAIN).get_attribute("data-phx-session")


async def test_click_updates_the_dom(page: Page) -> None:
    await open_live(page, "/counter?count=3")
    await expect_counter(page, 3)
    await page.click("#increment")
    await expect_counter(page, 4, "?count=3")
    await page.click("#decrement")
    await page.click("#decrement")
    await expect_counter(page, 2)


async def test_form_change_sets_the_step(page: Page) -> None:
    await open_live(page, "/counter")
    await page.fill("#step", "5")
    await expect_step(page, 5)
    await page.click("#increment")
    await expect_counter(page, 5)
    await page.click("#decrement")
    await expect_counter(page, 0)


async def test_a_bad_value_shows_its_error_and_the_form_stays_usable(page: Page) -> None:
    await open_live(page, "/counter")
    for bad, message in (
        ("2.5", "parameter 'step': '2.5' is not a valid int"),
        ("0", "The step must be 1 or more."),
    ):
        await page.fill("#step", bad)
        await page.press("#step", "Enter")  # phx-submit as well as phx-change
        await wait_until(
            page,
            "(text) => document.querySelector('#flash-error')?.textContent === text",
            message,
        )
        # Neither a change nor a submit leaves the form in its loading state.
        await wait_until(
            page,
            """() => !document.querySelector('#step-form').className.includes('loading') &&
                !document.querySelector('#step').readOnly""",
        )
        await expect_step(page, 1)
    await page.fill("#step", "3")
    await expect_step(page, 3)
    await page.wait_for_selector("#flash-error", state="detached", timeout=WAIT_MS)


async def test_live_link_patches_the_url_and_back_restores_it(page: Page) -> None:
    await open_live(page, "/counter?count=5")
    await expect_counter(page, 5, "?count=5")
    await set_marker(page)
    await page.click("#jump")
    await expect_counter(page, 100, "?count=100")
    await assert_no_reload(page)
    await page.go_back()
    await expect_counter(page, 5, "?count=5")
    await assert_no_reload(page)
    await page.go_forward()
    await expect_counter(page, 100, "?count=100")
    await assert_no_reload(page)


async def test_reset_pushes_a_patch(page: Page) -> None:
    await open_live(page, "/counter?count=5")
    await set_marker(page)
    await page.fill("#step", "3")
    await expect_step(page, 3)
    await page.click("#increment")
    await expect_counter(page, 8, "?count=5")
    await page.click("#reset")
    await expect_counter(page, 0, "?count=0")
    await assert_no_reload(page)
    # The flash the view put shows, and clicking it (lv:clear-flash) removes it.
    await page.wait_for_selector("#flash-info:has-text('The counter was reset.')", timeout=WAIT_MS)
    await page.click("#flash-info")
    await page.wait_for_selector("#flash-info", state="detached", timeout=WAIT_MS)
    # The patch ran handle_params only: the step chosen before it is still 3.
    await expect_step(page, 3)
    await page.click("#increment")
    await expect_counter(page, 3, "?count=0")


async def test_live_navigation_between_views(page: Page) -> None:
    await open_live(page, "/counter?count=2")
    await set_marker(page)
    await page.click("header a.brand")
    await wait_until(
        page,
        """() => location.pathname === '/' && document.title === 'Home' &&
            !!document.querySelector('ul.samples a')""",
    )
    await assert_sound(page)
    await assert_no_reload(page)

    await page.click("ul.samples a[href='/counter']")
    await expect_counter(page, 0, "")
    assert await page.evaluate("location.pathname") == "/counter"
    await assert_no_reload(page)
    await page.click("#increment")
    await expect_counter(page, 1)

    await page.go_back()
    await wait_until(page, "() => location.pathname === '/' && document.title === 'Home'")
    await assert_sound(page)
    await assert_no_reload(page)


# -- server pushes -------------------------------------------------------------


async def test_the_dashboard_changes_by_itself(page: Page) -> None:
    await open_live(page, "/dashboard")
    before = await page.text_content("#refreshes")
    # No click, no key: the server's schedule pushes a diff the client applies.
    await wait_until(
        page, "(before) => document.querySelector('#refreshes')?.textContent !== before", before
    )
    await assert_sound(page)
    assert await page.text_content("#status") == "Live: refreshed every 1 s."


async def test_two_pages_on_the_lobby_see_each_other_arrive_and_leave(
    page: Page, browser: Browser, live_server: str
) -> None:
    await open_live(page, "/lobby")
    first = await page.text_content("#me")
    async with watched(browser, live_server) as other:  # another browser: another person
        second_page = await other.new_page()
        await open_live(second_page, "/lobby")
        second = await second_page.text_content("#me")
        assert first and second and first != second
        await wait_until(second_page, HERE, first)  # listed when it arrived
        await wait_until(page, HERE, second)  # pushed to the first page as it arrived
        await assert_sound(page)
    # The tab has gone: its socket closed, and the runtime untracked it.
    await wait_until(page, f"(name) => !({HERE})(name)", second)
    await wait_until(
        page,
        "(line) => [...document.querySelectorAll('#feed li')].some(li => li.textContent === line)",
        f"{second} left",
    )
    await assert_sound(page)
