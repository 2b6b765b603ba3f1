"""The pub/sub backends: one behaviour in memory and over the real Redis, and Redis's failures.

The shared tests run on both backends. Redis's own run against the server at
``TEST_REDIS_URL`` (127.0.0.1:6379 by default): its connections are killed,
cut off and frozen under live subscriptions, and another process subscribes.
"""

from __future__ import annotations

import asyncio
import logging
import math
import socket
import time
import typing as t
from collections.abc import AsyncIterator
from urllib.parse import urlparse

import pytest

import pubsub_support as support
from {{ cookiecutter.package_name }}.live import pubsub as pubsub_module
from {{ cookiecutter.package_name }}.live.pubsub import (
    DRAIN_TURNS,
    HANDOFFS_PER_TICK,
    Handler,
    PubSub,
    PubSubError,
    create_pubsub,
)
from {{ cookiecutter.package_name }}.live.pubsub.memory import MemoryPubSub
from {{ cookiecutter.package_name }}.live.pubsub.redis import FIRST_BACKOFF, RedisPubSub
from {{ cookiecutter.package_name }}.live.socket import ConnectedLiveViewSocket
from {{ cookiecutter.package_name }}.live.testing import scaled


@pytest.fixture
async def redis_pubsub(prefix: str) -> AsyncIterator[RedisPubSub]:
    backend = RedisPubSub(support.redis_url(), prefix=prefix, **support.FAST)
    await backend.start()
    yield backend
    await backend.stop()


async def test_a_broadcast_reaches_the_subscribers_of_its_topic(pubsub: PubSub) -> None:
    first, second, other = support.Inbox(), support.Inbox(), support.Inbox()
    await pubsub.subscribe("news", first)
    await pubsub.subscribe("news", second)
    await pubsub.subscribe("other", other)

    await pubsub.broadcast("news", {"text": "hello"})
    await pubsub.broadcast("news", "flash", event="breaking")
    await pubsub.broadcast("other", "marker")

    expected = [("news", "news", {"text": "hello"}), ("news", "breaking", "flash")]
    assert await first.wait(2) == expected
    assert await second.wait(2) == expected
    assert await other.wait(1) == [("other", "other", "marker")]
    assert pubsub.subscribers("news") == 2
    assert pubsub.subscribers() == 3


async def test_subscribers_get_what_json_makes_of_the_message_each_their_own(
    pubsub: PubSub,
) -> None:
    def meddler(topic: str, event: str, message: t.Any) -> None:
        message["items"].append("changed by the first subscriber")

    second = support.Inbox()
    await pubsub.subscribe("data", meddler)
    await pubsub.subscribe("data", second)

    await pubsub.broadcast("data", {"items": (1, 2.5, None), 3: True, "nested": [{"a": ()}]})

    decoded = {"items": [1, 2.5, None], "3": True, "nested": [{"a": []}]}
    assert await second.wait(1) == [("data", "data", decoded)]


async def test_a_broadcast_is_decoded_once_whatever_its_subscribers(
    pubsub: PubSub, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded: list[str | bytes] = []

    def counted(data: str | bytes) -> tuple[str, t.Any]:
        decoded.append(data)
        return decode(data)

    decode = pubsub_module.decode
    monkeypatch.setattr(pubsub_module, "decode", counted)
    crowd = [support.Inbox() for _ in range(20)]
    for inbox in crowd:
        await pubsub.subscribe("crowd", inbox)

    await pubsub.broadcast("crowd", {"seq": 1, "tags": ["a"]})

    for inbox in crowd:
        assert await inbox.wait(1) == [("crowd", "crowd", {"seq": 1, "tags": ["a"]})]
    assert len(decoded) == 1


async def test_the_broadcast_call_hands_out_nothing_then_a_share_per_loop_turn() -> None:
    # The publisher (a view's handle_event, then its reply) never waits for the crowd, and
    # the views woken each turn are few: their renders cannot hold up the other sockets.
    pubsub = MemoryPubSub()
    heard: list[tuple[int, t.Any]] = []
    crowd = 2 * HANDOFFS_PER_TICK + 1

    def hearer(index: int) -> Handler:
        return lambda topic, event, message: heard.append((index, message))

    for index in range(crowd):
        await pubsub.subscribe("crowd", hearer(index))

    await pubsub.broadcast("crowd", 1)
    await pubsub.broadcast("crowd", 2)
    assert heard == []
    shares = []
    while len(heard) < 2 * crowd:
        await asyncio.sleep(0)  # one turn of the loop
        shares.append(len(heard) - sum(shares))

    assert shares == [HANDOFFS_PER_TICK] * (len(shares) - 1) + [2 * crowd % HANDOFFS_PER_TICK]
    # Each subscriber hears the broadcasts in the order they were made.
    assert heard == [(index, 1) for index in range(crowd)] + [(index, 2) for index in range(crowd)]


async def test_broadcasts_that_come_faster_than_the_crowd_takes_them_do_not_pile_up() -> None:
    # Past DRAIN_TURNS turns' shares, a turn hands out that part of all that waits: broadcasts
    # queue in the views' mailboxes, which coalesce them (latest wins), never here.
    pubsub = MemoryPubSub()
    heard: list[t.Any] = []
    crowd = 2 * HANDOFFS_PER_TICK
    for _ in range(crowd):
        await pubsub.subscribe("crowd", lambda topic, event, message: heard.append(message))

    for seq in range(DRAIN_TURNS):
        await pubsub.broadcast("crowd", seq)
    total, shares = crowd * DRAIN_TURNS, []
    while len(heard) < total:
        waiting = total - len(heard)
        await asyncio.sleep(0)  # one turn of the loop
        shares.append(waiting - (total - len(heard)))
        assert shares[-1] * DRAIN_TURNS >= waiting  # however many wait

    assert shares[0] == crowd > HANDOFFS_PER_TICK  # a DRAIN_TURNS-th of all that waited
    assert heard == [seq for seq in range(DRAIN_TURNS) for _ in range(crowd)]


async def test_a_subscriber_gone_before_its_share_is_handed_out_hears_nothing() -> None:
    pubsub = MemoryPubSub()
    gone, staying = support.Inbox(), support.Inbox()
    subscription = await pubsub.subscribe("news", gone)
    await pubsub.subscribe("news", staying)

    await pubsub.broadcast("news", "hello")
    await pubsub.unsubscribe(subscription)

    assert await staying.wait(1) == [("news", "news", "hello")]
    assert gone.received == []


@pytest.mark.parametrize(
    "message",
    [object(), {1, 2}, float("nan"), {"deep": [float("inf")]}, {(1, 2): "tuple key"}, b"bytes"],
    ids=["object", "set", "nan", "inf", "tuple-key", "bytes"],
)
async def test_a_message_json_cannot_carry_fails_at_the_call(
    pubsub: PubSub, message: t.Any
) -> None:
    inbox = support.Inbox()
    await pubsub.subscribe("news", inbox)

    with pytest.raises((TypeError, ValueError), match="cannot broadcast on 'news'"):
        await pubsub.broadcast("news", message)
    await pubsub.broadcast("news", "marker")

    assert await inbox.wait(1) == [("news", "news", "marker")]


async def test_topics_and_events_are_strings(pubsub: PubSub) -> None:
    with pytest.raises(TypeError, match="strings"):
        await pubsub.broadcast(t.cast(str, 42), "message")
    with pytest.raises(TypeError, match="strings"):
        await pubsub.broadcast("news", "message", event=t.cast(str, ["event"]))
    with pytest.raises(TypeError, match="a topic is a string"):
        await pubsub.subscribe(t.cast(str, None), support.Inbox())


async def test_a_raising_subscriber_is_logged_in_one_line_and_the_others_still_hear(
    pubsub: PubSub, caplog: pytest.LogCaptureFixture
) -> None:
    before, after = support.Inbox(), support.Inbox()

    def broken(topic: str, event: str, message: t.Any) -> None:
        raise RuntimeError("broken\nsubscriber")

    await pubsub.subscribe("news", before)
    await pubsub.subscribe("news", broken)
    await pubsub.subscribe("news", after)
    with caplog.at_level(logging.ERROR):
        await pubsub.broadcast("news", 1)
        await pubsub.broadcast("news", 2)
        await after.wait(2)

    assert before.messages() == after.messages() == [1, 2]
    errors = [record for record in caplog.records if record.levelno >= logging.ERROR]
    assert len(errors) == 2
    for record in errors:
        assert "'news'" in record.getMessage() and "broken\\nsubscriber" in record.getMessage()
        assert "\n" not in record.getMessage() and record.exc_info is None


async def test_unsubscribe_stops_delivery_and_may_be_repeated(pubsub: PubSub) -> None:
    gone, staying = support.Inbox(), support.Inbox()
    subscription = await pubsub.subscribe("news", gone)
    await pubsub.subscribe("news", staying)

    await pubsub.unsubscribe(subscription)
    await pubsub.unsubscribe(subscription)
    await pubsub.broadcast("news", "after")

    assert await staying.wait(1) == [("news", "news", "after")]
    assert gone.received == []
    assert pubsub.subscribers("news") == 1


async def test_stop_ends_every_subscription(pubsub: PubSub) -> None:
    await pubsub.subscribe("news", support.Inbox())
    await pubsub.stop()
    assert pubsub.subscribers() == 0


def test_create_pubsub_picks_the_backend_by_url() -> None:
    assert isinstance(create_pubsub("memory://"), MemoryPubSub)
    assert isinstance(create_pubsub("redis://127.0.0.1:6379/0"), RedisPubSub)
    with pytest.raises(ValueError, match="use memory:// or redis://"):
        create_pubsub("kafka://127.0.0.1")


# Redis only.


async def test_a_process_has_one_command_and_one_subscribed_connection(
    redis_pubsub: RedisPubSub,
) -> None:
    inboxes = [support.Inbox() for _ in range(40)]
    for number, inbox in enumerate(inboxes):
        await redis_pubsub.subscribe(f"topic-{number % 8}", inbox)
    await asyncio.gather(*(redis_pubsub.broadcast(f"topic-{n}", n) for n in range(8)))

    for inbox in inboxes:
        await inbox.wait(1)
    async with support.admin() as admin:
        names = sorted(
            client["name"]
            for client in await admin.client_list()
            if redis_pubsub.node in client["name"]
        )
        channels = [f"{redis_pubsub.prefix}topic-{n}" for n in range(8)]
        subscribed = await admin.pubsub_numsub(*channels)
    assert names == [f"live.{redis_pubsub.node}.commands", f"live.{redis_pubsub.node}.subscriber"]
    assert [count for _, count in subscribed] == [1] * 8


async def test_the_last_unsubscribe_releases_the_channel(redis_pubsub: RedisPubSub) -> None:
    channel = redis_pubsub.prefix + "news"
    first = await redis_pubsub.subscribe("news", support.Inbox())
    second = await redis_pubsub.subscribe("news", support.Inbox())

    async with support.admin() as admin:
        assert await admin.pubsub_numsub(channel) == [(channel.encode(), 1)]
        await redis_pubsub.unsubscribe(first)
        assert await admin.pubsub_numsub(channel) == [(channel.encode(), 1)]
        await redis_pubsub.unsubscribe(second)
        assert await admin.pubsub_numsub(channel) == [(channel.encode(), 0)]


async def test_a_killed_subscribed_connection_is_restored(
    redis_pubsub: RedisPubSub, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = support.Inbox()
    await redis_pubsub.subscribe("news", inbox)
    name = f"live.{redis_pubsub.node}.subscriber"

    async with support.admin() as admin:

        async def subscriber_id() -> str | None:
            found = [c["id"] for c in await admin.client_list() if c["name"] == name]
            return found[0] if found else None

        async def subscribed_again() -> bool:
            current = await subscriber_id()
            channel = redis_pubsub.prefix + "news"
            count = (await admin.pubsub_numsub(channel))[0][1]
            return current not in (None, killed) and count == 1

        killed = await subscriber_id()
        assert killed is not None
        with caplog.at_level(logging.WARNING):
            await admin.client_kill_filter(_id=killed)
            await support.eventually(subscribed_again, "a new subscribed connection")

    await redis_pubsub.broadcast("news", "after the kill")
    # What was published while it reconnected is lost: the subscriber is told so.
    assert await inbox.wait(1) == [("news", "news", "after the kill")]
    await inbox.resynced()  # what was published while it reconnected is lost: it is told so
    lines = [record.getMessage() for record in caplog.records]
    assert any(line.startswith("lost the subscription to Redis") for line in lines)
    assert any(line.startswith("reconnected to Redis") for line in lines)


async def test_while_redis_is_away_broadcast_fails_loudly_then_subscribers_are_back(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = support.Proxy()
    await proxy.start()
    inbox = support.Inbox()
    async with RedisPubSub(proxy.url, prefix=prefix, **support.FAST) as pubsub:
        await pubsub.subscribe("news", inbox)
        await proxy.stop()

        started = time.monotonic()
        with caplog.at_level(logging.ERROR), pytest.raises(PubSubError, match="on 'news'"):
            await pubsub.broadcast("news", "lost?")
        assert time.monotonic() - started < support.FAST["timeout"] + scaled(1.0)  # loud, soon
        failures = [r.getMessage() for r in caplog.records if "broadcast" in r.getMessage()]
        assert len(failures) == 1
        where = f"Redis at 127.0.0.1:{proxy.port}"
        assert failures[0].startswith(f"broadcast on 'news' failed: {where}")

        await proxy.start()
        async with support.admin() as admin:

            async def subscribed() -> bool:
                return (await admin.pubsub_numsub(prefix + "news"))[0][1] == 1

            await support.eventually(subscribed, "the subscription restored")
        await pubsub.broadcast("news", "back")

        async def back() -> bool:
            return "back" in inbox.messages("news")

        await support.eventually(back, "the broadcast made once Redis is back")
        # Never the lost message: a resync instead (after the reconnection, and from the
        # broadcast that failed).
        assert inbox.messages() == ["back"]
        await inbox.resynced()
        assert set(inbox.resyncs) == {"news"}
    await proxy.stop()


async def test_a_link_that_goes_silent_is_found_and_replaced(prefix: str) -> None:
    proxy = support.Proxy()
    await proxy.start()
    inbox = support.Inbox()
    async with RedisPubSub(proxy.url, prefix=prefix, timeout=0.2, ping_every=0.1) as listener:
        await listener.subscribe("news", inbox)
        proxy.freeze()  # the old connection carries nothing any more; new ones work
        async with RedisPubSub(support.redis_url(), prefix=prefix) as sender:

            async def delivered() -> bool:
                await sender.broadcast("news", "are you there?")
                await asyncio.sleep(0.1)
                return bool(inbox.received)

            await support.eventually(delivered, "a broadcast heard over a new connection")
    await proxy.stop()


async def test_subscribe_waits_until_redis_has_it_but_not_forever(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    proxy = support.Proxy()
    await proxy.start()
    async with RedisPubSub(proxy.url, prefix=prefix, timeout=0.3, ping_every=10) as pubsub:
        proxy.freeze()  # Redis never hears of the subscription
        started = time.monotonic()
        with caplog.at_level(logging.WARNING):
            await pubsub.subscribe("news", support.Inbox())
        assert 0.3 <= time.monotonic() - started < 0.3 + scaled(1.0)
    await proxy.stop()
    assert [r.getMessage() for r in caplog.records] == [
        f"Redis at 127.0.0.1:{proxy.port} did not confirm SUBSCRIBE 'news'"
    ]


async def test_an_unreachable_redis_fails_within_the_timeout() -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))  # bound, not listening: connections are refused
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()  # accepts connections, never answers
    try:
        for server in (closed, silent):
            url = f"redis://127.0.0.1:{server.getsockname()[1]}/0"
            pubsub = RedisPubSub(url, timeout=0.25)
            started = time.monotonic()
            with pytest.raises(PubSubError, match="connect failed"):
                await pubsub.start()
            with pytest.raises(PubSubError, match="broadcast on 'news' failed"):
                await pubsub.broadcast("news", "anyone?")
            assert time.monotonic() - started < 0.5 + scaled(1.0)  # two calls of 0.25 s at most
            await pubsub.stop()
    finally:
        closed.close()
        silent.close()


async def test_what_others_publish_on_a_channel_is_ignored(
    redis_pubsub: RedisPubSub, caplog: pytest.LogCaptureFixture
) -> None:
    inbox = support.Inbox()
    await redis_pubsub.subscribe("news", inbox)
    async with support.admin() as admin:
        for junk in (b"\xff not utf-8", b"not json", b"[1, 2]", b'{"message": "no event"}'):
            await admin.publish(redis_pubsub.prefix + "news", junk)
    with caplog.at_level(logging.WARNING):
        await redis_pubsub.broadcast("news", "real")
        assert await inbox.wait(1) == [("news", "news", "real")]
    ignored = [r for r in caplog.records if "is not a broadcast" in r.getMessage()]
    assert len(ignored) == 4


async def test_broadcasts_cross_processes_both_ways(redis_pubsub: RedisPubSub) -> None:
    echoes = support.Inbox()
    await redis_pubsub.subscribe("from-node", echoes)
    node = support.Node(redis_pubsub.prefix, "echo")
    try:
        assert await node.line() == "ready"
        await redis_pubsub.broadcast("to-node", {"n": (1, 2)})
        assert await node.line() == '{"n": [1, 2]}'
        assert await echoes.wait(1) == [("from-node", "echo", {"n": [1, 2]})]
    finally:
        node.kill()


# Outages of a real Redis: the test's own redis-server, killed and started again.


async def test_once_redis_is_back_every_subscription_hears_a_resync() -> None:
    with support.own_redis() as server:
        news, sport = support.Inbox(), support.Inbox()
        async with RedisPubSub(server.url, **support.FAST) as pubsub:
            await pubsub.subscribe("news", news)
            await pubsub.subscribe("sport", sport)
            server.stop()
            server.start()  # empty: a restart loses every subscription

            await news.resynced()
            await sport.resynced()
            assert (news.resyncs[:1], sport.resyncs[:1]) == (["news"], ["sport"])
            # Heard once subscribed again: what is broadcast from then on arrives.
            async with RedisPubSub(server.url) as other_process:
                await other_process.broadcast("news", "back")
            assert await news.wait(1) == [("news", "news", "back")]


async def test_a_view_s_broadcast_while_redis_is_away_is_false_never_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with support.own_redis() as server:
        async with RedisPubSub(server.url, **support.FAST) as pubsub:
            socket = ConnectedLiveViewSocket[None](urlparse("/"), pubsub)
            assert await socket.broadcast("news", "sent") is True
            server.stop()
            with caplog.at_level(logging.ERROR):
                assert await socket.broadcast("news", "not sent") is False
            failures = [r.getMessage() for r in caplog.records if "broadcast" in r.getMessage()]
            assert len(failures) == 1 and failures[0].startswith("broadcast on 'news' failed")
            await socket.close()


async def test_a_broadcast_that_failed_is_a_resync_in_every_process_once_redis_is_back(
    prefix: str,
) -> None:
    # Only the sender's link fails: the other process never notices, and must hear of it.
    proxy = support.Proxy()
    await proxy.start()
    node = support.Node(prefix, "echo")
    try:
        assert await node.line() == "ready"
        async with RedisPubSub(proxy.url, prefix=prefix, **support.FAST) as sender:
            await proxy.stop()
            for lost in ("first", "second"):
                with pytest.raises(PubSubError):
                    await sender.broadcast("to-node", lost)
            await proxy.start()
            assert await node.line(resyncs=True) == "resync to-node"
            await sender.broadcast("to-node", "back")
            assert await node.line() == '"back"'
    finally:
        node.kill()
        await proxy.stop()


async def test_after_failures_in_a_row_a_working_connection_resets_the_backoff() -> None:
    max_backoff = 2.0  # the default: a drop then would be retried 2 s later
    attempts = 0

    def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal attempts
        attempts += 1
        writer.transport.abort()

    with support.own_redis() as server:
        inbox = support.Inbox()
        async with RedisPubSub(server.url, max_backoff=max_backoff) as pubsub:
            await pubsub.subscribe("news", inbox)
            server.stop()
            # Its port answers and hangs up: each reconnection fails, and is counted.
            impostor = await asyncio.start_server(refuse, "127.0.0.1", server.port)
            enough = math.ceil(math.log2(max_backoff / FIRST_BACKOFF)) + 1  # backoff at its cap

            async def capped() -> bool:
                return attempts >= enough

            async with impostor:
                await support.eventually(capped, f"{enough} failed reconnections", wait=30.0)
            await impostor.wait_closed()
            server.start()
            await inbox.resynced(1)  # reconnected

            async with support.admin(server.url) as admin:
                clients = await admin.client_list()
                [subscriber] = [c["id"] for c in clients if c["name"].endswith(".subscriber")]
                await admin.client_kill_filter(_id=subscriber)
                dropped = time.monotonic()
                await inbox.resynced(2)  # reconnected again
                took = time.monotonic() - dropped
    assert took < max_backoff, f"reconnected {took:.2f} s after a drop: the backoff kept growing"
