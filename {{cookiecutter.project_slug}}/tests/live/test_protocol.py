"""The wire protocol, frame by frame, against the real server over a real WebSocket.

The official client only works if the server answers exactly as Phoenix
does (see PROTOCOL.md in the runtime's docs): replies echo refs, diffs carry
only what changed, navigation re-joins the same topic, and bad input is
answered with an error reply (or, for a malformed frame, a close) without
taking down anything else.
"""

from __future__ import annotations

import copy
import re
import typing as t
from html import unescape

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer
from jinja2 import Environment, PackageLoader
from selectolax.lexbor import LexborHTMLParser
from websockets.exceptions import ConnectionClosed

from {{ cookiecutter.package_name }}.live import js

from live_client import TIMEOUT, LiveClient, error, ok

Rendered = dict[str, t.Any]


# -- what the client makes of the replies ---------------------------------------
# Written from PROTOCOL.md (c, "Merge rules") rather than taken from the runtime,
# so that the tests check the runtime instead of agreeing with it.


class Screen:
    """What the official client holds for a view: the join's tree with every diff merged."""

    def __init__(self, rendered: Rendered) -> None:
        self.tree: Rendered = {}
        self.title: str | None = None
        self.apply(rendered)

    def apply(self, diff: Rendered) -> None:
        """Merge a join's ``rendered`` or a reply's ``diff``; ``t`` sets the title."""
        diff = dict(diff)
        if "t" in diff:
            self.title = diff.pop("t")
        diff.pop("e", None)
        merge(self.tree, resolve(diff))

    def html(self) -> str:
        """The view's HTML, without the whitespace between tags; a missing slot raises."""
        return re.sub(r">\s+<", "><", " ".join(to_html(self.tree).split()))


def resolve(node: Rendered, templates: Rendered | None = None) -> Rendered:
    """``node`` with every statics index replaced by its list from ``p``.

    ``p`` is valid only inside the diff that carries it, so it is resolved
    before merging, as the client does.
    """
    templates = node.get("p", templates)
    resolved: Rendered = {}
    for key, value in node.items():
        if key == "p":
            continue
        if key == "s" and isinstance(value, int):
            assert templates is not None, f"statics index {value} without a p table"
            value = templates[str(value)]
        elif key == "k":
            value = {
                index: resolve(entry, templates) if isinstance(entry, dict) else entry
                for index, entry in value.items()
            }
        elif isinstance(value, dict):
            value = resolve(value, templates)
        resolved[key] = value
    return resolved


def merge(target: Rendered, diff: Rendered) -> None:
    """A node with ``s`` replaces; one without merges into the node it lands on."""
    for key, value in diff.items():
        old = target.get(key)
        if key == "k" and isinstance(old, dict):
            target[key] = merge_entries(old, value)
        elif isinstance(value, dict) and "s" not in value:
            assert isinstance(old, dict), f"a diff without statics lands on {old!r}"
            merge(old, value)
        else:
            target[key] = value


def merge_entries(old: Rendered, diff: Rendered) -> Rendered:
    """A keyed comprehension's entries: changed, moved, kept, and cut at ``kc``."""
    entries: Rendered = {"kc": diff["kc"]}
    for index in map(str, range(diff["kc"])):
        change = diff.get(index)
        if change is None:
            entry = old[index]
        elif isinstance(change, int):
            entry = old[str(change)]
        else:
            moved_from, change = change if isinstance(change, list) else (index, change)
            entry = copy.deepcopy(old.get(str(moved_from), {}))
            merge(entry, change)
        entries[index] = entry
    return entries


def to_html(node: Rendered) -> str:
    statics = node["s"]
    assert isinstance(statics, list) and all(isinstance(s, str) for s in statics), statics
    if "k" in node:
        entries = node["k"]
        return "".join(interleave(statics, entries[str(i)]) for i in range(entries["kc"]))
    return interleave(statics, node)


def interleave(statics: list[str], slots: Rendered) -> str:
    parts = [statics[0]]
    for i, static in enumerate(statics[1:]):
        value = slots[str(i)]
        assert isinstance(value, str | dict), f"slot {i} is {value!r} (no components here)"
        parts.append(value if isinstance(value, str) else to_html(value))
        parts.append(static)
    return "".join(parts)


# -- what the counter should show, written out from counter.html ------------------


def notices_html() -> str:
    """The connection notices every page's flash group ends with (templates/flash.html),
    rendered by plain Jinja, without the whitespace between tags."""
    loader = PackageLoader("{{ cookiecutter.package_name }}", "templates")
    template = Environment(loader=loader, autoescape=True).get_template("flash.html")
    html = template.render(flash={}, js=js)
    return re.sub(r">\s+<", "><", " ".join(html.split()))


NOTICES = notices_html()


def counter_html(count: int, step: int = 1, flash: str = "") -> str:
    below_zero = '<span class="note">Below zero!</span>' if count < 0 else ""
    return (
        f'<section class="counter"><h1>Counter</h1>{flash}{NOTICES}'
        f'<p class="count" id="count">{count}</p>'
        '<div class="buttons">'
        f'<button id="decrement" phx-click="decrement">- {step}</button>'
        f'<button id="increment" phx-click="increment">+ {step}</button>'
        '<button id="reset" phx-click="reset">Reset</button>'
        "</div>"
        '<form id="step-form" phx-change="set_step" phx-submit="set_step">'
        f'<label>Step <input id="step" type="number" name="step" value="{step}" min="1"></label>'
        "</form>"
        '<p><a id="jump" href="/counter?count=100" data-phx-link="patch"'
        ' data-phx-link-state="push">Jump to 100</a>'
        f"{below_zero}</p></section>"
    )


def flash_html(kind: str, message: str) -> str:
    return (
        f'<p id="flash-{kind}" class="flash flash-{kind}" role="alert"'
        f' phx-click="lv:clear-flash" phx-value-key="{kind}">{message}</p>'
    )


def flash_message(html: str, kind: str, count: int) -> str:
    """The text of the ``kind`` flash, when ``html`` is the counter at ``count`` with that flash."""
    pattern = re.escape(counter_html(count, flash=flash_html(kind, "MESSAGE")))
    shown = re.fullmatch(pattern.replace("MESSAGE", "(.+?)"), html)
    assert shown is not None, html
    return unescape(shown[1])


async def join_counter(client: LiveClient) -> Screen:
    return Screen(ok(await client.join())["rendered"])


async def increment(client: LiveClient, screen: Screen) -> None:
    """Click +; the reply must merge (the connection and the view survived)."""
    screen.apply(ok(await client.click("increment"))["diff"])


# -- join -------------------------------------------------------------------


async def test_join_replies_with_the_rendered_view(live_server: str) -> None:
    async with LiveClient.open(live_server, "/counter?count=3") as client:
        response = ok(await client.join())
        assert response["liveview_version"] == "1.2.12"
        screen = Screen(response["rendered"])  # every slot present, or html() raises
        assert screen.html() == counter_html(3)
        assert screen.title == "Count: 3"


async def test_join_reply_echoes_join_ref_ref_and_topic(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        payload = {
            "url": client.page.url,
            "params": {"_csrf_token": client.page.csrf_token},
            "session": client.page.session,
            "static": client.page.static,
        }
        await client.send("7", "7", client.page.topic, "phx_join", payload)
        frame = await client.receive()
        assert frame[:4] == ("7", "7", client.page.topic, "phx_reply")
        assert frame.payload["status"] == "ok"


# -- events -----------------------------------------------------------------


async def test_click_sends_only_the_changed_slot_and_the_title(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        screen = await join_counter(client)
        diff = ok(await client.click("increment"))["diff"]
        assert diff.pop("t") == "Count: 1"
        assert list(diff.values()) == ["1"]  # one slot: the count
        screen.apply(diff)
        assert screen.html() == counter_html(1)


async def test_form_change_sets_the_step_used_by_the_next_click(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        screen = await join_counter(client)
        diff = ok(await client.change("set_step", {"step": "5"}, target="step"))["diff"]
        assert list(diff.values()) == ["5", "5", "5"]  # two buttons and the input; no title
        screen.apply(diff)
        assert screen.html() == counter_html(0, step=5)
        await increment(client, screen)
        assert screen.html() == counter_html(5, step=5)


async def test_push_patch_from_an_event_replies_with_live_patch_and_diff(live_server: str) -> None:
    async with LiveClient.open(live_server, "/counter?count=4") as client:
        screen = await join_counter(client)
        response = ok(await client.click("reset"))
        assert response.keys() == {"live_patch", "diff"}
        assert response["live_patch"] == {"to": "/counter?count=0", "kind": "push"}
        screen.apply(response["diff"])
        assert screen.html() == counter_html(0, flash=flash_html("info", "The counter was reset."))
        assert screen.title == "Count: 0"


# -- live patch and navigation ----------------------------------------------


async def test_live_patch_runs_handle_params_without_remounting(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        screen = await join_counter(client)
        screen.apply(ok(await client.change("set_step", {"step": "5"}, target="step"))["diff"])
        diff = ok(await client.live_patch("/counter?count=7"))["diff"]
        assert diff.pop("t") == "Count: 7" and list(diff.values()) == ["7"]
        screen.apply(diff)
        await increment(client, screen)
        assert screen.html() == counter_html(12, step=5)  # a re-mount would have reset the step


async def test_live_patch_with_unconvertible_params_is_a_page_load(live_server: str) -> None:
    async with LiveClient.open(live_server, "/counter?count=2") as client:
        screen = await join_counter(client)
        # Not a patch: the browser loads the URL, whose 400 page names the parameter.
        bad = f"{live_server}/counter?count=abc"
        assert ok(await client.live_patch("/counter?count=abc")) == {"redirect": {"to": bad}}
        await increment(client, screen)
        assert screen.html() == counter_html(3)
        screen.apply(ok(await client.live_patch("/counter?count=7"))["diff"])
        assert screen.html() == counter_html(7)


async def test_live_patch_to_another_view_asks_for_a_navigation(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        screen = await join_counter(client)
        assert ok(await client.live_patch("/")) == {"link_redirect": True}
        await increment(client, screen)
        assert screen.html() == counter_html(1)


async def test_live_navigation_rejoins_the_same_topic(live_server: str) -> None:
    async with LiveClient.open(live_server, "/counter?count=2") as client:
        await join_counter(client)
        assert ok(await client.leave()) == {}

        index = ok(await client.join(redirect="/"))
        assert index["liveview_version"] == "1.2.12"
        home = Screen(index["rendered"])
        assert home.title == "Home"
        assert '<li><a href="/counter" data-phx-link="redirect"' in home.html()

        assert ok(await client.leave()) == {}
        back = Screen(ok(await client.join(redirect="/counter?count=9"))["rendered"])
        assert back.html() == counter_html(9) and back.title == "Count: 9"
        await increment(client, back)
        assert back.html() == counter_html(10)


async def test_events_for_a_left_view_are_refused(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        await join_counter(client)
        ok(await client.leave())
        assert error(await client.click("increment")) == {"reason": "unmatched topic"}


# -- Phoenix channel messages -------------------------------------------------


async def test_heartbeat_is_answered_on_topic_phoenix(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        ref = client.next_ref()
        await client.send(None, ref, "phoenix", "heartbeat", {})
        frame = await client.receive()
        assert frame == (None, ref, "phoenix", "phx_reply", {"status": "ok", "response": {}})
        assert await client.heartbeat() == {"status": "ok", "response": {}}


async def test_unknown_topic_is_unmatched(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        assert error(await client.call("room:lobby", "phx_join", {})) == {
            "reason": "unmatched topic"
        }
        assert error(
            await client.call(
                "lv:phx-nobody", "event", {"type": "click", "event": "increment", "value": {}}, "1"
            )
        ) == {"reason": "unmatched topic"}
        assert (await client.heartbeat())["status"] == "ok"


async def test_unknown_channel_event_is_an_error(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        screen = await join_counter(client)
        assert error(await client.push("bogus", {})) == {"reason": "unknown event"}
        await increment(client, screen)
        assert screen.html() == counter_html(1)


# -- bad input ----------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[1, 2, 3]",
        '{"topic": "phoenix"}',
        '[null, "1", "phoenix", "heartbeat"]',
        "[null, 1, 2, 3, {}]",
    ],
)
async def test_malformed_frame_closes_only_that_socket(live_server: str, text: str) -> None:
    async with LiveClient.open(live_server) as client:
        await join_counter(client)
        await client.ws.send(text)
        with pytest.raises(ConnectionClosed) as closed:
            await client.receive()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1007
    async with LiveClient.open(live_server) as other:
        screen = await join_counter(other)
        await increment(other, screen)
        assert screen.html() == counter_html(1)


async def test_payload_that_is_not_an_object_is_an_error(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        screen = await join_counter(client)
        assert error(await client.push("event", "increment")) == {"reason": "malformed payload"}
        assert error(await client.push("event", ["increment"])) == {"reason": "malformed payload"}
        await increment(client, screen)
        assert screen.html() == counter_html(1)


async def test_join_with_a_bad_csrf_token_is_unauthorized(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        assert error(await client.join(csrf_token="not-the-token")) == {"reason": "unauthorized"}
        # The token of another browser session is as bad as a made-up one.
        async with LiveClient.open(live_server) as other:
            assert error(await client.join(csrf_token=other.page.csrf_token)) == {
                "reason": "unauthorized"
            }
        await join_counter(client)


async def test_join_with_a_forged_session_is_unauthorized(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        forged = URLSafeTimedSerializer("not-the-secret", salt="live-session").dumps({"user_id": 1})
        assert error(await client.join(session=forged)) == {"reason": "unauthorized"}
        # One character of the signed payload changed (a signature's last
        # characters can carry unused bits: changing them may change nothing).
        token = client.page.session
        tampered = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
        assert error(await client.join(session=tampered)) == {"reason": "unauthorized"}
        await join_counter(client)


async def test_join_of_a_url_without_a_view_is_unauthorized(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        assert error(await client.join(redirect="/no-such-page")) == {"reason": "unauthorized"}


async def test_unhandled_event_is_answered_ok_and_the_view_survives(live_server: str) -> None:
    # As Phoenix: an error reply would leave the browser's button loading (and locked).
    async with LiveClient.open(live_server) as client:
        screen = await join_counter(client)
        await increment(client, screen)
        assert ok(await client.click("explode")) == {}
        await increment(client, screen)
        assert screen.html() == counter_html(2)
        assert not [frame for frame in client.pushes if frame.event in ("phx_error", "phx_close")]


async def test_conversion_error_shows_a_flash_naming_the_parameter(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        screen = await join_counter(client)
        # The view's default handle_binding_error: an ok reply whose diff shows the error.
        screen.apply(ok(await client.change("set_step", {"step": "abc"}, target="step"))["diff"])
        message = flash_message(screen.html(), "error", count=0)
        assert "'step'" in message and "abc" in message
        # The view survived with its step; clicking the flash clears it.
        await increment(client, screen)
        assert flash_message(screen.html(), "error", count=1) == message
        clear = {"type": "click", "event": "lv:clear-flash", "value": {"key": "error"}}
        screen.apply(ok(await client.push("event", clear))["diff"])
        assert screen.html() == counter_html(1)
        assert not [frame for frame in client.pushes if frame.event in ("phx_error", "phx_close")]


# -- HTTP -------------------------------------------------------------------


async def test_http_render_has_the_container_and_csrf_meta(live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server, timeout=TIMEOUT) as http:
        response = await http.get("/counter?count=3")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = LexborHTMLParser(response.text)
    meta = html.css_first("meta[name='csrf-token']")
    assert meta is not None and meta.attributes.get("content")
    containers = html.css("[data-phx-session]")
    assert len(containers) == 1
    container = containers[0].attributes
    assert (container.get("id") or "").startswith("phx-")
    assert "data-phx-main" in container and container.get("data-phx-session")
    assert "data-phx-static" in container
    count = html.css_first("#count")
    assert count is not None and count.text() == "3"
    title = html.css_first("title")
    assert title is not None and title.text() == "Count: 3"


async def test_http_render_rejects_unconvertible_params(live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server, timeout=TIMEOUT) as http:
        response = await http.get("/counter?count=abc")
    assert response.status_code == 400
    assert "count" in response.text
