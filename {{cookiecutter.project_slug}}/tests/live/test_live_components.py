"""LiveComponents: the ``c`` map on the wire, events by ``phx-target``, updates, destroys.

Protocol tests speak to a real server over a WebSocket (``live_client``) and
check the exact frames; test-client tests drive the same view as a browser
would (``live``). The view is the board of counters of ``board.py``.
"""

from __future__ import annotations

import logging
import typing as t
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from unittest.mock import AsyncMock, MagicMock

import pytest

from {{ cookiecutter.package_name }}.live import ComponentMeta, ComponentSocket, LiveComponent, render_tree
from {{ cookiecutter.package_name }}.live import component as component_module
from {{ cookiecutter.package_name }}.live.testing import live

from board import Board, Counter, create_app, environment
from live_client import LiveClient, ok
from servers import serve
{%- raw %}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with serve(create_app()) as base_url:
        yield base_url


@asynccontextmanager
async def joined(base_url: str) -> AsyncIterator[tuple[LiveClient, dict[str, t.Any]]]:
    async with LiveClient.open(base_url, "/board") as client:
        yield client, ok(await client.join())["rendered"]


def click(event: str, cid: int | None = None, **value: t.Any) -> dict[str, t.Any]:
    payload = {"type": "click", "event": event, "value": {"value": "", **value}}
    return payload if cid is None else {**payload, "cid": cid}


# -- the wire ----------------------------------------------------------------------


async def test_the_join_holds_cids_in_slots_and_each_component_once_with_shared_statics(
    server: str,
) -> None:
    async with joined(server) as (_, rendered):
        counters, extra = rendered["1"], rendered["2"]
        assert [entry["0"] for entry in counters["k"].values() if isinstance(entry, dict)] == [
            1,
            2,
        ]
        assert extra["0"] == 3
        first, second, third = (rendered["c"][cid] for cid in ("1", "2", "3"))
        assert first["r"] == 1 and first["s"][0].startswith("<div id='counter-")
        assert first["0"] == "a" and first["2"] == "0" and first["3"] == "1"
        # The other counters share the first one's statics: sent once.
        assert second == {"s": 1, "0": "b", "1": "b", "2": "0", "3": "2", "4": "b", "r": 1}
        assert third["s"] == 1 and third["3"] == "3"


@pytest.mark.parametrize(("path", "cid"), [("/nested", 2), ("/rows", 1)])
async def test_a_component_the_views_render_does_not_reach_still_updates(
    server: str, path: str, cid: int
) -> None:
    """Inside a component left as it was, or in a stream's rows (rendered once): the view's
    re-render does not render it again, and it must still send what its events change."""
    async with LiveClient.open(server, path) as client:
        ok(await client.join())
        count = {"diff": {"c": {str(cid): {"2": "1"}}}}
        assert ok(await client.push("event", click("inc", cid))) == count
        assert "c" not in ok(await client.push("event", click("bump")))["diff"]
        count = {"diff": {"c": {str(cid): {"2": "2"}}}}
        assert ok(await client.push("event", click("inc", cid))) == count


async def test_an_event_with_a_cid_changes_that_component_only(server: str) -> None:
    async with joined(server) as (client, _):
        assert ok(await client.push("event", click("inc", 2, by="5"))) == {
            "diff": {"c": {"2": {"2": "5"}}}
        }


async def test_a_component_whose_assigns_did_not_change_sends_nothing(server: str) -> None:
    async with joined(server) as (client, _):
        # The parent re-renders (its total changed) and renders every counter again with
        # the same assigns: none of them is updated, rendered or sent.
        assert ok(await client.push("event", click("told", count="7"))) == {
            "diff": {"0": "7"}
        }


async def test_send_parent_calls_the_views_handle_event(server: str) -> None:
    async with joined(server) as (client, _):
        ok(await client.push("event", click("inc", 1, by="3")))
        assert ok(await client.push("event", click("tell", 1))) == {"diff": {"0": "3"}}


async def test_send_update_from_handle_info_renders_the_component(server: str) -> None:
    async with joined(server) as (client, _):
        assert ok(await client.push("event", click("later"))) == {}
        frame = await client.receive()
        renamed = {"c": {"1": {"0": "A!", "1": "A!", "4": "A!"}}}
        assert (frame.event, frame.payload) == ("diff", renamed)


async def test_a_removed_component_is_freed_when_the_client_destroys_it(server: str) -> None:
    async with joined(server) as (client, _):
        assert ok(await client.push("event", click("toggle"))) == {"diff": {"2": ""}}
        assert ok(await client.push("cids_will_destroy", {"cids": [3]})) == {}
        assert ok(await client.push("cids_destroyed", {"cids": [3]})) == {"cids": [3]}
        assert ok(await client.push("event", click("inc", 3))) == {}  # nothing happens
        # Shown again, it is a new component: a new cid, its statics those of cid 1.
        diff = ok(await client.push("event", click("toggle")))["diff"]
        assert diff["2"]["0"] == 4 and diff["c"]["4"]["s"] == -1


async def test_a_component_rendered_again_before_it_is_destroyed_stays(server: str) -> None:
    async with joined(server) as (client, _):
        ok(await client.push("event", click("inc", 3)))
        ok(await client.push("event", click("toggle")))
        ok(await client.push("cids_will_destroy", {"cids": [3]}))
        # Back before cids_destroyed: the same cid, whose tree the client still has.
        assert ok(await client.push("event", click("toggle"))) == {
            "diff": {"2": {"0": 3, "s": ["", ""]}}
        }
        assert ok(await client.push("cids_destroyed", {"cids": [3]})) == {"cids": []}
        assert ok(await client.push("event", click("inc", 3))) == {
            "diff": {"c": {"3": {"2": "2"}}}
        }


async def test_a_components_reply_to_a_hook_is_the_diffs_r(server: str) -> None:
    """A dict its ``handle_event`` returns answers a hook's ``pushEventTo``, as a view's does."""
    async with LiveClient.open(server, "/asking") as client:
        ok(await client.join())
        hook = {"type": "hook", "event": "ask", "value": {"question": "why"}, "cid": 1}
        assert ok(await client.push("event", hook)) == {"diff": {"r": {"answer": "ask why!"}}}


@pytest.mark.parametrize("cid", [99, "1", 1.5, True])
async def test_an_event_for_no_component_is_answered_ok_and_logged_in_one_line(
    server: str, caplog: pytest.LogCaptureFixture, cid: t.Any
) -> None:
    """As Phoenix: an error reply would leave the client's button loading for good."""
    async with joined(server) as (client, _):
        caplog.clear()
        with caplog.at_level(logging.WARNING):
            reply = await client.push("event", click("inc", cid))
        assert ok(reply) == {}
        logged = [record for record in caplog.records if "component" in record.getMessage()]
        assert len(logged) == 1
        assert ok(await client.push("event", click("inc", 1))) == {
            "diff": {"c": {"1": {"2": "1"}}}
        }


# -- the test client ---------------------------------------------------------------


async def test_the_test_client_targets_components_and_destroys_them() -> None:
    Board.sockets.clear()
    async with live(create_app(), "/board", lifespan=False) as view:
        assert "counter-extra" in view.dead_html  # the HTTP render mounts components too
        renders = Board.renders
        await view.click("#counter-b .inc")
        assert view.text("#counter-b b") == "1" and view.text("#counter-a b") == "0"
        assert Board.renders == renders  # the component alone was rendered
        assert view.element("#counter-b").attributes["data-phx-component"] == "2"
        await view.click("#counter-b .tell")  # phx-target: a selector inside the component
        assert view.text("#total") == "1" and Board.renders == renders + 1  # send_parent
        await view.click("#push-a")  # JS.push("inc", target: "#counter-a")
        assert view.text("#counter-a b") == "1"
        await view.hook("inc", {"by": 3}, target="#counter-a")
        await view.hook("inc", {"by": 2}, target=3)
        assert view.text("#counter-a b") == "4" and view.text("#counter-extra b") == "2"
        components = Board.sockets[-1].components
        await view.hook("toggle")
        assert not view.has("#counter-extra") and components.component_count == 3
        await view.hook("inc", target=1)  # before its next action the client destroys cid 3
        assert components.get_all_cids() == [1, 2]


# -- the API -----------------------------------------------------------------------


async def test_the_pyview_api_of_components() -> None:
    meta = ComponentMeta(cid=42, parent_meta=None)
    assert meta.myself == meta.cid == 42
    manager = MagicMock()
    manager.send_to_parent = AsyncMock()
    socket = ComponentSocket(context={"n": 1}, cid=7, manager=manager)
    assert socket.myself == 7
    await socket.send_parent("saved")
    manager.send_to_parent.assert_awaited_once_with("saved", {})

    class Plain(LiveComponent[dict[str, t.Any]]):
        pass

    plain = Plain()
    await plain.mount(socket, {"x": 1})
    await plain.update(socket, {"x": 2})
    await plain.handle_event("any", {}, socket)
    assert socket.context == {"n": 1}  # the defaults take nothing
    with pytest.raises(NotImplementedError, match="Plain needs a template_name"):
        plain.template({}, meta)


async def test_the_pyview_api_of_the_manager() -> None:
    manager = component_module.ComponentsManager(MagicMock())
    cid = manager.register(Counter, "a", {"label": "a"})
    assert manager.has_pending_lifecycle() and manager.get_context(cid) == {}
    await manager.run_pending_lifecycle()  # mount, then update
    assert not manager.has_pending_lifecycle()
    component, context = manager.get_component(cid) or (None, None)
    assert isinstance(component, Counter) and context == {"count": 0, "label": "a"}
    await manager.handle_event(cid, "inc", {"value": {"by": "2"}})
    manager.set_context(cid, {**manager.get_context(cid), "label": "b"})
    assert manager.get_context(cid) == {"count": 2, "label": "b"}
    await manager.handle_event(99, "inc", {})  # no such component: logged, nothing happens
    assert manager.get_component(99) is None and manager.get_context(99) is None
    manager.unregister(cid)
    assert manager.component_count == 0 and manager.register(Counter, "a", {}) == cid + 1


async def test_live_component_is_refused_where_it_cannot_render() -> None:
    with pytest.raises(TypeError, match="only in a LiveView's template"):
        render_tree("<p>{{ live_component(C, id=1) }}</p>", {"C": Counter})
    manager = component_module.ComponentsManager(MagicMock())
    templates = environment()
    with pytest.raises(TypeError, match="not inside a macro"):
        await manager.render(templates, templates.get_template("macro.html"), {})
    with pytest.raises(ValueError, match="found duplicate ID 'a' for component Counter"):
        await manager.render(templates, templates.get_template("twice.html"), {})


async def test_one_component_rendered_by_two_templates_is_a_duplicate() -> None:
    """By the view's template and by a component's (outer.html) in one render: one state
    for two places, which Phoenix refuses too."""
    manager = component_module.ComponentsManager(MagicMock())
    templates = environment()
    with pytest.raises(ValueError, match="found duplicate ID 'inner' for component Counter"):
        await manager.render(templates, templates.get_template("beside.html"), {})


async def test_a_view_has_a_bounded_number_of_components_and_frees_only_removed_ones(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past twice the cap, one the client removed makes room; never one still on the page,
    as the counter inside outer is though the view's render (outer unchanged) did not reach
    it. A render itself reaches at most the cap."""
    monkeypatch.setattr(component_module, "MAX_COMPONENTS", 3)
    manager = component_module.ComponentsManager(MagicMock())
    templates = environment()
    template = templates.get_template("beside_outer.html")
    for names in (["a"], ["b"], ["c"], ["d"]):  # outer (1), its inner counter (2), a (3)…
        await manager.render(templates, template, {"names": names})
    assert manager.get_all_cids() == [1, 2, 3, 4, 5, 6]
    with pytest.raises(RuntimeError, match="keeps more than 6 components"):
        await manager.render(templates, template, {"names": ["e"]})  # none removed yet
    manager.will_destroy([3])  # the client removed a
    await manager.render(templates, template, {"names": ["e"]})
    assert manager.get_all_cids() == [1, 2, 4, 5, 6, 7]
    fresh = component_module.ComponentsManager(MagicMock())
    with pytest.raises(RuntimeError, match="reaches more than 3 components"):
        await fresh.render(templates, template, {"names": ["x", "y"]})  # outer, inner, x, y


async def test_a_render_may_replace_every_component_of_the_last_one() -> None:
    """A page of 600 rows, each a component, then the next page's 600: the last render's
    stay until the browser removes them, beside the new ones."""
    manager = component_module.ComponentsManager(MagicMock())
    for page in (1, 2):
        manager.begin_render()
        for row in range(600):
            manager.register(Counter, (page, row), {})
    assert manager.component_count == 1200
{%- endraw %}
