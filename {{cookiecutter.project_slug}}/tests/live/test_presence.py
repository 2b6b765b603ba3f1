"""Presence: who is on a topic, on both backends, and across processes over the real Redis.

The shared tests run in memory and on Redis. Redis's own start other nodes
(in this process, or as a subprocess that is SIGKILLed) with short heartbeats,
so a dead node's expiry is seen in about a second instead of 13.
"""

from __future__ import annotations

import asyncio
import time
import typing as t
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import pytest
import redis

import pubsub_support as support
from {{ cookiecutter.package_name }}.live.presence import Presence, merge_diffs
from {{ cookiecutter.package_name }}.live.pubsub import PubSub, PubSubError
from {{ cookiecutter.package_name }}.live.pubsub.redis import RedisPubSub
from {{ cookiecutter.package_name }}.live.socket import ConnectedLiveViewSocket, LiveViewSocket
from {{ cookiecutter.package_name }}.live.testing import scaled

HEARTBEAT = 0.1  # seconds: the nodes of these tests beat and sweep ten times a second
TTL = scaled(1.0)  # a node that stops beating is dead after this; gone within TTL + HEARTBEAT


@pytest.fixture
async def presence(pubsub: PubSub) -> AsyncIterator[Presence]:
    async with Presence(pubsub, heartbeat=HEARTBEAT, ttl=TTL) as presence:
        yield presence


@pytest.fixture
async def diffs(pubsub: PubSub) -> support.Inbox:
    """What a view subscribed to ``room`` hears."""
    inbox = support.Inbox()
    await pubsub.subscribe("room", inbox)
    return inbox


async def node(
    prefix: str, url: str | None = None, ttl: float = TTL
) -> tuple[RedisPubSub, Presence]:
    """Another node on the same Redis, started; stop it with ``stop``."""
    pubsub = RedisPubSub(url or support.redis_url(), prefix=prefix, **support.FAST)
    await pubsub.start()
    presence = Presence(pubsub, heartbeat=HEARTBEAT, ttl=ttl)
    await presence.start()
    return pubsub, presence


async def stop(pubsub: PubSub, presence: Presence) -> None:
    await presence.stop()
    await pubsub.stop()


def view() -> ConnectedLiveViewSocket[t.Any]:
    return ConnectedLiveViewSocket(urlparse("/room"))


def without_refs(metas: dict[str, list[dict[str, t.Any]]]) -> dict[str, list[dict[str, t.Any]]]:
    return {
        key: [{k: v for k, v in meta.items() if not k.startswith("phx_ref")} for meta in found]
        for key, found in metas.items()
    }


def diff(
    joins: dict[str, list[t.Any]] | None = None, leaves: dict[str, list[t.Any]] | None = None
) -> dict[str, t.Any]:
    """A ``presence_diff`` message, in Phoenix's shape."""
    return {
        "joins": {key: {"metas": metas} for key, metas in (joins or {}).items()},
        "leaves": {key: {"metas": metas} for key, metas in (leaves or {}).items()},
    }


async def until_heard(diffs: support.Inbox, expected: dict[str, t.Any]) -> list[dict[str, t.Any]]:
    """The diffs heard once, merged, they change a list as ``expected`` does.

    Changes made close together may arrive merged (the presence's batch):
    what a subscriber can count on is their sum.
    """

    async def arrived() -> bool:
        return merge_diffs(*diffs.messages("presence_diff")) == expected

    await support.eventually(arrived, f"{expected} (got {diffs.received})")
    return diffs.messages("presence_diff")


async def test_track_lists_the_meta_and_announces_a_join(
    presence: Presence, diffs: support.Inbox
) -> None:
    await presence.track(view(), "room", "alice", {"name": "Alice", "tags": ("a", "b")})

    listed = await presence.list("room")
    assert without_refs(listed) == {"alice": [{"name": "Alice", "tags": ["a", "b"]}]}
    [(topic, event, message)] = await diffs.wait(1)
    assert (topic, event) == ("room", "presence_diff")
    assert message == diff(joins={"alice": listed["alice"]})
    assert await presence.list("elsewhere") == {}


async def test_each_view_of_a_key_has_its_own_meta_and_ref(
    presence: Presence, diffs: support.Inbox
) -> None:
    await presence.track(view(), "room", "alice", {"tab": 1})
    await presence.track(view(), "room", "alice", {"tab": 2})
    await presence.track(view(), "room", "bob", {"tab": 1})

    listed = await presence.list("room")
    assert sorted(meta["tab"] for meta in listed["alice"]) == [1, 2]
    refs = [meta["phx_ref"] for metas in listed.values() for meta in metas]
    assert len(set(refs)) == 3 and all(isinstance(ref, str) and ref for ref in refs)
    assert presence.tracked == 3


async def test_update_is_a_leave_of_the_old_meta_and_a_join_of_the_new(
    presence: Presence, diffs: support.Inbox
) -> None:
    socket = view()
    await presence.track(socket, "room", "alice", {"status": "away"})
    [old] = (await presence.list("room"))["alice"]

    await presence.update(socket, "room", "alice", {"status": "here"})

    [new] = (await presence.list("room"))["alice"]
    assert new["status"] == "here" and new["phx_ref"] != old["phx_ref"]
    assert new["phx_ref_prev"] == old["phx_ref"]
    await until_heard(diffs, diff(joins={"alice": [new]}, leaves={"alice": [old]}))


async def test_untrack_announces_a_leave_once(presence: Presence, diffs: support.Inbox) -> None:
    socket = view()
    await presence.track(socket, "room", "alice", {})
    [meta] = (await presence.list("room"))["alice"]

    await presence.untrack(socket, "room", "alice")
    await presence.untrack(socket, "room", "alice")
    await presence.untrack(socket, "room", "nobody")

    assert await presence.list("room") == {}
    await presence.track(view(), "room", "marker", {})
    [marker] = (await presence.list("room"))["marker"]
    messages = await until_heard(diffs, diff(joins={"marker": [marker]}, leaves={"alice": [meta]}))
    assert [list(message["leaves"]) for message in messages].count(["alice"]) == 1


async def test_the_http_render_tracks_nothing(presence: Presence, diffs: support.Inbox) -> None:
    socket: LiveViewSocket[t.Any] = LiveViewSocket(urlparse("/room"))

    await presence.track(socket, "room", "alice", {})
    await presence.update(socket, "room", "alice", {"ignored": True})
    await presence.untrack(socket, "room", "alice")

    assert await presence.list("room") == {}
    await presence.track(view(), "room", "marker", {})
    assert [list(message["joins"]) for _, _, message in await diffs.wait(1)] == [["marker"]]
    assert presence.tracked == 1


async def test_a_closing_view_untracks_everything(
    presence: Presence, diffs: support.Inbox
) -> None:
    socket = view()
    await presence.track(socket, "room", "alice", {"tab": 1})
    await presence.track(socket, "lobby", "alice", {"tab": 1})
    await presence.track(view(), "room", "bob", {})
    listed = await presence.list("room")

    await socket.close()  # what the runtime does when the view ends, however it ends

    assert list(await presence.list("room")) == ["bob"]
    assert await presence.list("lobby") == {}
    assert presence.tracked == 1
    await until_heard(diffs, diff(joins={"bob": listed["bob"]}, leaves={"alice": listed["alice"]}))


async def test_changes_made_together_go_out_as_one_diff(
    presence: Presence, diffs: support.Inbox
) -> None:
    sockets = [view() for _ in range(100)]
    for number, socket in enumerate(sockets):
        await presence.track(socket, "room", f"visitor-{number}", {})
    everyone = await presence.list("room")
    await until_heard(diffs, diff(joins=everyone))
    diffs.received.clear()

    await asyncio.gather(*(socket.close() for socket in sockets))  # a crowd's tabs, closed

    messages = await until_heard(diffs, diff(leaves=everyone))
    assert len(messages) <= 10  # one each would be 100 broadcasts, each decoded by every view


async def test_mistakes_are_refused_at_the_call(presence: Presence) -> None:
    socket = view()
    await presence.track(socket, "room", "alice", {})
    with pytest.raises(ValueError, match="already tracks 'alice' on 'room': update"):
        await presence.track(socket, "room", "alice", {})
    with pytest.raises(ValueError, match="does not track 'bob' on 'room': track"):
        await presence.update(socket, "room", "bob", {})
    with pytest.raises(TypeError, match="the meta is not JSON"):
        await presence.track(socket, "room", "carol", {"when": object()})
    with pytest.raises(ValueError, match="the meta is not JSON"):
        await presence.track(socket, "room", "carol", {"score": float("nan")})
    with pytest.raises(TypeError, match="a mapping"):
        await presence.track(socket, "room", "carol", t.cast(dict[str, t.Any], ["meta"]))
    with pytest.raises(TypeError, match="strings"):
        await presence.track(socket, "room", t.cast(str, 42), {})

    assert list(await presence.list("room")) == ["alice"]
    assert presence.tracked == 1


async def test_a_view_tracks_at_most_max_presences(presence: Presence) -> None:
    socket = ConnectedLiveViewSocket(urlparse("/room"), max_presences=2)  # LiveConfig's
    await presence.track(socket, "room", "alice", {})
    await presence.track(socket, "hall", "alice", {})
    with pytest.raises(RuntimeError, match="at most 2 presences"):
        await presence.track(socket, "room", "bob", {})
    assert presence.tracked == 2 and list(await presence.list("room")) == ["alice"]
    await presence.untrack(socket, "hall", "alice")
    await presence.track(socket, "room", "bob", {})  # room again
    await socket.close()
    assert presence.tracked == 0


async def test_presence_must_be_started_and_bounds_checked(pubsub: PubSub) -> None:
    with pytest.raises(ValueError, match="batch"):
        Presence(pubsub, heartbeat=1, ttl=2, batch=1)
    presence = Presence(pubsub)
    with pytest.raises(RuntimeError, match="start the Presence first"):
        await presence.track(view(), "room", "alice", {})
    with pytest.raises(RuntimeError, match="start the Presence first"):
        await presence.list("room")
    for heartbeat, ttl in ((0, 1), (2, 1), (1, float("inf"))):
        with pytest.raises(ValueError, match="0 < heartbeat < ttl"):
            Presence(pubsub, heartbeat=heartbeat, ttl=ttl)


# Redis only: nodes.


async def test_every_node_lists_what_any_node_tracks(prefix: str) -> None:
    first, second = await node(prefix), await node(prefix)
    try:
        heard = support.Inbox()
        await second[0].subscribe("room", heard)
        await first[1].track(view(), "room", "alice", {"node": 1})
        await second[1].track(view(), "room", "alice", {"node": 2})

        for _, presence in (first, second):
            listed = await presence.list("room")
            assert sorted(meta["node"] for meta in listed["alice"]) == [1, 2]
        assert [list(m["joins"]) for _, _, m in await heard.wait(2)] == [["alice"], ["alice"]]
    finally:
        await stop(*second)
        await stop(*first)


async def test_a_killed_node_leaves_within_the_bound_announced_once(prefix: str) -> None:
    first, second = await node(prefix), await node(prefix)  # two sweepers
    heard = support.Inbox()
    await first[0].subscribe("room", heard)
    killed = support.Node(prefix, "track", str(HEARTBEAT), str(TTL))
    try:
        assert (await killed.line()).startswith("ready")
        [meta] = (await second[1].list("room"))["node"]
        killed.kill()
        died = time.monotonic()

        async def gone() -> bool:
            return await second[1].list("room") == {}

        await support.eventually(gone, "the killed node's presence removed")
        assert time.monotonic() - died <= TTL + HEARTBEAT + scaled(1.0)  # and a few round trips
        await asyncio.sleep(3 * HEARTBEAT)  # time for a second announcement, if there were one
        leaves = [m for _, event, m in heard.received if event == "presence_diff" and m["leaves"]]
        assert leaves == [diff(leaves={"node": [meta]})]
    finally:
        killed.kill()
        await stop(*second)
        await stop(*first)


async def test_a_stopping_node_announces_its_leaves(prefix: str) -> None:
    first, second = await node(prefix), await node(prefix)
    try:
        heard = support.Inbox()
        await second[0].subscribe("room", heard)
        await first[1].track(view(), "room", "alice", {})
        [meta] = (await second[1].list("room"))["alice"]

        await stop(*first)

        assert await second[1].list("room") == {}
        assert (await heard.wait(2))[1][2] == diff(leaves={"alice": [meta]})
    finally:
        await stop(*second)


async def test_presences_redis_lost_are_written_back_and_announced(prefix: str) -> None:
    pubsub, presence = await node(prefix)
    try:
        heard = support.Inbox()
        await pubsub.subscribe("room", heard)
        await presence.track(view(), "room", "alice", {})
        listed = await presence.list("room")
        async with support.admin() as admin:  # as a restart of Redis without persistence would
            await admin.delete(*[key async for key in admin.scan_iter(match=prefix + "*")])

        async def back() -> bool:
            return await presence.list("room") == listed

        await support.eventually(back, "the presence written back")
        assert [m for _, _, m in await heard.wait(2)] == [diff(joins=listed)] * 2
    finally:
        await stop(pubsub, presence)


async def test_a_leave_that_failed_while_redis_was_away_is_made_when_it_is_back(
    prefix: str,
) -> None:
    proxy = support.Proxy()
    await proxy.start()
    # A TTL the outage cannot outlast: the cut-off node stays alive throughout.
    cut_off, watcher = await node(prefix, proxy.url, ttl=5.0), await node(prefix)
    try:
        heard = support.Inbox()
        await watcher[0].subscribe("room", heard)
        socket = view()
        await cut_off[1].track(view(), "room", "stays", {})
        await cut_off[1].track(socket, "room", "leaves", {})
        [meta] = (await watcher[1].list("room"))["leaves"]
        await proxy.stop()

        await cut_off[1].untrack(socket, "room", "leaves")  # held: Redis is away
        assert cut_off[1].tracked == 1
        await proxy.start()

        def leaves() -> list[t.Any]:
            return [m["leaves"] for m in heard.messages("presence_diff") if m["leaves"]]

        async def left() -> bool:
            return bool(leaves()) and list(await watcher[1].list("room")) == ["stays"]

        await support.eventually(left, "the leave made, and announced")
        assert leaves() == [{"leaves": {"metas": [meta]}}]
    finally:
        await stop(*watcher)
        await stop(*cut_off)
        await proxy.stop()


async def test_while_redis_is_away_presences_are_held_then_made_and_announced() -> None:
    with support.own_redis() as server:
        here, watcher = await node("t:", server.url, ttl=5.0), await node("t:", server.url)
        try:
            heard = support.Inbox()
            await watcher[0].subscribe("room", heard)
            server.stop()

            # Neither raises: the person's page works on while Redis is away.
            await here[1].track(view(), "room", "alice", {"name": "Alice"})
            bob = view()
            await here[1].track(bob, "room", "bob", {})
            await here[1].untrack(bob, "room", "bob")
            assert here[1].tracked == 1
            with pytest.raises(PubSubError):
                await here[1].list("room")  # nobody to show: the view says so

            server.start()  # empty: as a restart without persistence

            def joined() -> list[str]:
                return [key for m in heard.messages("presence_diff") for key in m["joins"]]

            async def back() -> bool:
                # The watcher heard the join, or (if made before it was subscribed again)
                # a resync: either way, what it lists then shows Alice.
                told = "alice" in joined() or heard.resyncs
                listed = await watcher[1].list("room")
                return bool(told) and without_refs(listed) == {"alice": [{"name": "Alice"}]}

            await support.eventually(back, "Alice written back, and the watcher told")
            assert "bob" not in joined()
        finally:
            await stop(*watcher)
            await stop(*here)


async def test_once_redis_did_not_answer_presence_fails_at_once_until_a_heartbeat_does() -> None:
    """A partition (Redis up, not answering) costs a page one timeout, not one per call."""
    timeout = support.FAST["timeout"]
    with support.own_redis() as server:
        here = await node("t:", server.url)
        try:
            with redis.Redis.from_url(server.url) as client:  # every client waits, unanswered
                client.execute_command("CLIENT", "PAUSE", round((timeout + 1) * 1000), "ALL")
            with pytest.raises(PubSubError):
                await here[1].list("room")  # the one timeout
            started = time.monotonic()
            await here[1].track(view(), "room", "alice", {"name": "Alice"})  # held
            with pytest.raises(PubSubError, match="Redis is away"):
                await here[1].list("room")
            assert time.monotonic() - started < timeout / 2

            async def back() -> bool:  # once the pause is over, the next heartbeat's resync
                try:
                    listed = without_refs(await here[1].list("room"))
                except PubSubError:
                    return False
                return listed == {"alice": [{"name": "Alice"}]}

            await support.eventually(back, "Alice written, listed again")
        finally:
            await stop(*here)
