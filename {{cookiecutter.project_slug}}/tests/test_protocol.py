"""The wire protocol, frame by frame, against the real server over a real WebSocket.

The official client only works if the server answers exactly as Phoenix
does (see PROTOCOL.md in the runtime's docs): replies echo refs, diffs carry
only what changed, navigation re-joins the same topic, and bad input is
answered with an error reply (or, for a malformed frame, a close) without
taking down anything else.
"""

from __future__ import annotations

import typing as t

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer
from selectolax.lexbor import LexborHTMLParser
from websockets.exceptions import ConnectionClosed

from live_client import LiveClient, Reply

Rendered = dict[str, t.Any]


def statics_of(node: Rendered, templates: Rendered | None = None) -> list[str]:
    """A node's statics: a list, or an index into the nearest ``p`` (PROTOCOL.md, "p")."""
    templates = node.get("p", templates)
    statics = node["s"]
    if isinstance(statics, int):
        assert templates is not None, f"statics index {statics} without a p table"
        statics = templates[str(statics)]
    assert isinstance(statics, list) and all(isinstance(s, str) for s in statics), statics
    return statics


def render_html(node: Rendered, templates: Rendered | None = None) -> str:
    """The HTML of a full rendered tree, by the client's rules; a missing slot raises ``KeyError``.

    Written from PROTOCOL.md rather than taken from the runtime, so that it
    checks the runtime instead of agreeing with it.
    """
    templates = node.get("p", templates)
    statics = statics_of(node, templates)
    if "k" in node:
        entries = node["k"]
        return "".join(
            _interleave(statics, entries[str(i)], templates) for i in range(entries["kc"])
        )
    return _interleave(statics, node, templates)


def _interleave(statics: list[str], slots: Rendered, templates: Rendered | None) -> str:
    parts = [statics[0]]
    for i, static in enumerate(statics[1:]):
        value = slots[str(i)]
        assert isinstance(value, str | dict), (
            f"slot {i} is {value!r} (components are not used here)"
        )
        parts.append(value if isinstance(value, str) else render_html(value, templates))
        parts.append(static)
    return "".join(parts)


def slot_after(rendered: Rendered, static_suffix: str) -> str:
    """The slot after the static that ends with ``static_suffix`` (slot i follows ``s[i]``)."""
    statics = statics_of(rendered)
    matches = [str(i) for i, static in enumerate(statics[:-1]) if static.endswith(static_suffix)]
    assert len(matches) == 1, f"{static_suffix!r} ends {len(matches)} statics: {statics}"
    return matches[0]


def count_slot(rendered: Rendered) -> str:
    return slot_after(rendered, 'id="count">')


def step_slots(rendered: Rendered) -> set[str]:
    """The step appears on both buttons and in the form's input."""
    return {
        slot_after(rendered, suffix)
        for suffix in ('phx-click="decrement">- ', 'phx-click="increment">+ ', 'value="')
    }


def ok(reply: Reply) -> dict[str, t.Any]:
    assert reply["status"] == "ok", reply
    return reply["response"]


def error(reply: Reply) -> dict[str, t.Any]:
    assert reply["status"] == "error", reply
    return reply["response"]


async def join_counter(client: LiveClient) -> Rendered:
    rendered: Rendered = ok(await client.join())["rendered"]
    return rendered


async def assert_count_after_increment(
    client: LiveClient, rendered: Rendered, expected: int
) -> None:
    """The connection and the view's state survived: one more click gives ``expected``."""
    diff = ok(await client.click("increment"))["diff"]
    assert diff == {count_slot(rendered): str(expected), "t": f"Count: {expected}"}


# -- join -------------------------------------------------------------------


async def test_join_replies_with_the_rendered_view(live_server: str) -> None:
    async with LiveClient.open(live_server, "/counter?count=3") as client:
        response = ok(await client.join())
        assert response["liveview_version"] == "1.2.12"
        rendered = response["rendered"]
        assert rendered[count_slot(rendered)] == "3"
        assert {rendered[slot] for slot in step_slots(rendered)} == {"1"}
        assert rendered["t"] == "Count: 3"
        html = render_html(rendered)  # every slot present: a missing one renders as "undefined"
        assert '<p class="count" id="count">3</p>' in html and 'value="1"' in html


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
        rendered = await join_counter(client)
        response = ok(await client.click("increment"))
        assert response == {"diff": {count_slot(rendered): "1", "t": "Count: 1"}}


async def test_form_change_sets_the_step_used_by_the_next_click(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        rendered = await join_counter(client)
        response = ok(await client.change("set_step", {"step": "5"}, target="step"))
        assert response == {"diff": {slot: "5" for slot in step_slots(rendered)}}
        await assert_count_after_increment(client, rendered, 5)


async def test_push_patch_from_an_event_replies_with_live_patch_and_diff(live_server: str) -> None:
    async with LiveClient.open(live_server, "/counter?count=4") as client:
        rendered = await join_counter(client)
        response = ok(await client.click("reset"))
        assert response["live_patch"] == {"to": "/counter?count=0", "kind": "push"}
        diff = response["diff"]
        # The count, the title, and the flash the view put: a whole new node.
        (flash_slot,) = [key for key, value in diff.items() if isinstance(value, dict)]
        assert diff == {
            count_slot(rendered): "0",
            "t": "Count: 0",
            flash_slot: {"s": diff[flash_slot]["s"], "0": "The counter was reset."},
        }
        assert rendered[flash_slot] == ""  # no flash before


# -- live patch and navigation ----------------------------------------------


async def test_live_patch_runs_handle_params_without_remounting(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        rendered = await join_counter(client)
        ok(await client.change("set_step", {"step": "5"}, target="step"))
        response = ok(await client.live_patch("/counter?count=7"))
        assert response == {"diff": {count_slot(rendered): "7", "t": "Count: 7"}}
        # A re-mount would have reset the step to 1.
        await assert_count_after_increment(client, rendered, 12)


async def test_live_patch_with_unconvertible_params_is_an_error(live_server: str) -> None:
    async with LiveClient.open(live_server, "/counter?count=2") as client:
        rendered = await join_counter(client)
        assert "'count'" in error(await client.live_patch("/counter?count=abc"))["reason"]
        await assert_count_after_increment(client, rendered, 3)
        assert ok(await client.live_patch("/counter?count=7"))["diff"][count_slot(rendered)] == "7"


async def test_live_patch_to_another_view_asks_for_a_navigation(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        rendered = await join_counter(client)
        assert ok(await client.live_patch("/")) == {"link_redirect": True}
        await assert_count_after_increment(client, rendered, 1)


async def test_live_navigation_rejoins_the_same_topic(live_server: str) -> None:
    async with LiveClient.open(live_server, "/counter?count=2") as client:
        await join_counter(client)
        assert ok(await client.leave()) == {}

        index = ok(await client.join(redirect="/"))
        assert index["liveview_version"] == "1.2.12"
        rendered = index["rendered"]
        assert rendered["t"] == "Home"
        html = render_html(rendered)
        assert (
            '<ul class="samples">' in html and '<a href="/counter" data-phx-link="redirect"' in html
        )

        assert ok(await client.leave()) == {}
        back = ok(await client.join(redirect="/counter?count=9"))["rendered"]
        assert back[count_slot(back)] == "9" and back["t"] == "Count: 9"
        await assert_count_after_increment(client, back, 10)


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
        rendered = await join_counter(client)
        assert error(await client.push("bogus", {})) == {"reason": "unknown event"}
        await assert_count_after_increment(client, rendered, 1)


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
        rendered = await join_counter(other)
        await assert_count_after_increment(other, rendered, 1)


async def test_payload_that_is_not_an_object_is_an_error(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        rendered = await join_counter(client)
        assert error(await client.push("event", "increment")) == {"reason": "malformed payload"}
        assert error(await client.push("event", ["increment"])) == {"reason": "malformed payload"}
        await assert_count_after_increment(client, rendered, 1)


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
        tampered = client.page.session[:-2] + (
            "AA" if not client.page.session.endswith("AA") else "BB"
        )
        assert error(await client.join(session=tampered)) == {"reason": "unauthorized"}
        await join_counter(client)


async def test_join_of_a_url_without_a_view_is_unauthorized(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        assert error(await client.join(redirect="/no-such-page")) == {"reason": "unauthorized"}


async def test_unhandled_event_is_an_error_and_the_view_survives(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        rendered = await join_counter(client)
        await assert_count_after_increment(client, rendered, 1)
        reason = error(await client.click("explode"))["reason"]
        assert "explode" in reason
        await assert_count_after_increment(client, rendered, 2)
        assert not [frame for frame in client.pushes if frame.event in ("phx_error", "phx_close")]


async def test_conversion_error_names_the_parameter_and_the_view_survives(live_server: str) -> None:
    async with LiveClient.open(live_server) as client:
        rendered = await join_counter(client)
        reason = error(await client.change("set_step", {"step": "abc"}, target="step"))["reason"]
        assert "'step'" in reason and "abc" in reason
        await assert_count_after_increment(client, rendered, 1)
        assert not [frame for frame in client.pushes if frame.event in ("phx_error", "phx_close")]


# -- HTTP -------------------------------------------------------------------


async def test_http_render_has_the_container_and_csrf_meta(live_server: str) -> None:
    async with httpx.AsyncClient(base_url=live_server) as http:
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
    async with httpx.AsyncClient(base_url=live_server) as http:
        response = await http.get("/counter?count=abc")
    assert response.status_code == 400
    assert "count" in response.text
