"""The infos waiting for a view: in order while it keeps up, bounded by what it listens to when
it does not; presence diffs merged without losing a join or a leave.
"""

from __future__ import annotations

import itertools
import typing as t
from urllib.parse import urlparse

from hypothesis import given
from hypothesis import strategies as st

from {{ cookiecutter.package_name }}.live import RESYNC, ConnectedLiveViewSocket, InfoEvent
from {{ cookiecutter.package_name }}.live.inbox import Inbox, Info
from {{ cookiecutter.package_name }}.live.presence import DIFF_EVENT, is_diff, merge_diffs
from {{ cookiecutter.package_name }}.live.socket import Broadcast

from properties import examples

SOCKET: ConnectedLiveViewSocket[t.Any] = ConnectedLiveViewSocket(urlparse("http://test/"))
orders = itertools.count()


def info(name: str, payload: t.Any = None, key: t.Hashable | None = None) -> Info:
    return Info(InfoEvent(name, payload), SOCKET, key, next(orders))


def broadcast(topic: str, payload: t.Any, event: str | None = None) -> Info:
    return info(event or topic, payload, Broadcast(topic))


def drain(inbox: Inbox, now: float = 0.0) -> list[tuple[str, t.Any]]:
    """What the view is handed at ``now`` (loop time), in order."""
    taken = []
    while (first := inbox.first(now)) is not None:
        event = inbox.pop(first, now).event
        taken.append((event.name, event.payload))
    return taken


def test_infos_a_view_keeps_up_with_wait_in_order_one_each() -> None:
    inbox = Inbox(backlog=20, interval=0.2)
    for n in range(10):
        inbox.put(broadcast("news", n), 0.0)
        inbox.put(broadcast("other", -n), 0.0)
    assert drain(inbox) == [pair for n in range(10) for pair in (("news", n), ("other", -n))]
    assert inbox.coalesced == 0


def test_past_the_backlog_the_latest_broadcast_of_a_topic_replaces_the_one_waiting() -> None:
    inbox = Inbox(backlog=3, interval=0.2)
    for n in range(1000):
        inbox.put(broadcast("news", n), 0.0)
        if n == 1:
            inbox.put(broadcast("other", "once"), 0.0)
    # The backlog filled in order; then each news replaced the newest news waiting, and
    # went to the end: what is delivered keeps the order in which it was sent.
    assert drain(inbox) == [("news", 0), ("other", "once"), ("news", 999)]
    assert inbox.coalesced == 998


def test_a_broadcast_that_replaced_others_says_how_many() -> None:
    inbox = Inbox(backlog=2, interval=0.2)
    for n in range(10):
        inbox.put(broadcast("news", n), 0.0)
    handed = []
    while (first := inbox.first(0.0)) is not None:
        handed.append(inbox.pop(first, 0.0).event)
    assert [(event.payload, event.coalesced) for event in handed] == [(0, 0), (9, 8)]


def test_past_the_backlog_a_resync_is_never_replaced_by_a_later_broadcast() -> None:
    inbox = Inbox(backlog=2, interval=0.2)
    inbox.put(broadcast("contacts", "first"), 0.0)
    inbox.put(broadcast("contacts", "contacts", event=RESYNC), 0.0)
    for n in range(100):
        inbox.put(broadcast("contacts", n), 0.0)
        inbox.put(broadcast("contacts", "contacts", event=RESYNC), 0.0)  # a repeat: waits once
    # "first" gave way to the latest broadcast; the resync stayed, once.
    assert drain(inbox) == [(RESYNC, "contacts"), ("contacts", 99)]


def test_a_resync_drops_the_presence_diffs_of_its_topic_still_waiting() -> None:
    """The reload lists everyone: a diff applied after it could bring back who has left."""
    inbox = Inbox(backlog=20, interval=0.2)
    inbox.put(broadcast("room", diff(joins={"x": [meta("r1")]}), event=DIFF_EVENT), 0.0)
    inbox.put(broadcast("hall", diff(joins={"y": [meta("r2")]}), event=DIFF_EVENT), 0.0)
    inbox.put(broadcast("room", "room", event=RESYNC), 0.0)
    inbox.put(broadcast("room", diff(leaves={"z": [meta("r3")]}), event=DIFF_EVENT), 0.0)
    taken = drain(inbox, now=1.0)
    assert taken == [
        (DIFF_EVENT, diff(joins={"y": [meta("r2")]})),  # another topic's
        (RESYNC, "room"),
        (DIFF_EVENT, diff(leaves={"z": [meta("r3")]})),  # what came after the resync stays
    ]


def test_what_waits_is_bounded_by_the_keys_whatever_is_sent() -> None:
    inbox = Inbox(backlog=4, interval=0.2)
    tick = object()
    for n in range(10_000):
        inbox.put(broadcast(f"topic-{n % 7}", n), 0.0)
        inbox.put(info("tick", key=tick), 0.0)
        inbox.put(broadcast("room", diff(joins={f"k{n}": [meta(f"r{n}")]}), event=DIFF_EVENT), 0.0)
        assert len(inbox) <= 4 + 7 + 2
    taken = drain(inbox, now=1.0)  # the merged diffs are held a moment
    assert len(inbox) == 0
    assert taken.count(("tick", None)) == 1  # a tick waits once at most
    (merged,) = [payload for name, payload in taken if name == DIFF_EVENT]
    assert len(merged["joins"]) == 10_000  # no presence was lost


def test_a_repeated_tick_waits_once_even_below_the_backlog() -> None:
    inbox = Inbox(backlog=16, interval=0.2)
    tick = object()
    inbox.put(info("tick", key=tick), 0.0)
    inbox.put(info("tick", key=tick), 0.0)
    inbox.put(info("once"), 0.0)
    inbox.put(info("once"), 0.0)
    assert drain(inbox) == [("tick", None), ("once", None), ("once", None)]
    inbox.put(info("tick", key=tick), 0.0)  # taken: the next one waits again
    assert drain(inbox) == [("tick", None)]


def test_an_event_named_like_a_presence_diff_but_shaped_otherwise_is_a_plain_broadcast() -> None:
    inbox = Inbox(backlog=1, interval=0.2)
    inbox.put(broadcast("room", {"joins": "nope"}, event=DIFF_EVENT), 0.0)
    inbox.put(broadcast("room", "later", event=DIFF_EVENT), 0.0)
    assert drain(inbox) == [(DIFF_EVENT, "later")]  # latest wins, nothing merged or raised
    assert not is_diff({"joins": {"k": {"metas": [{"phx_ref": ["unhashable"]}]}}, "leaves": {}})


def test_presence_diffs_of_a_topic_are_handed_out_once_an_interval_merged() -> None:
    inbox = Inbox(backlog=16, interval=0.2)  # a batch is held up to 0.1 s more, at random
    room = [diff(joins={f"k{n}": [meta(f"r{n}")]}) for n in range(4)]
    inbox.put(broadcast("room", room[0], event=DIFF_EVENT), 10.0)
    assert drain(inbox, now=10.1) == [(DIFF_EVENT, room[0])]  # the first at once, or nearly
    inbox.put(broadcast("room", room[1], event=DIFF_EVENT), 10.1)
    inbox.put(broadcast("news", "meanwhile"), 10.1)
    inbox.put(broadcast("room", room[2], event=DIFF_EVENT), 10.1)
    assert drain(inbox, now=10.29) == [("news", "meanwhile")]  # not held up by the batch
    assert 10.3 <= t.cast(float, inbox.due()) <= 10.4
    assert drain(inbox, now=10.4) == [(DIFF_EVENT, merge_diffs(room[1], room[2]))]
    inbox.put(broadcast("room", room[3], event=DIFF_EVENT), 11.0)
    assert drain(inbox, now=11.1) == [(DIFF_EVENT, room[3])]  # quiet for long: at once


def test_a_diff_for_the_view_joined_since_never_merges_into_one_for_the_view_before() -> None:
    inbox = Inbox(backlog=16, interval=0.2)
    rejoined = ConnectedLiveViewSocket[t.Any](urlparse("http://test/"))
    old = broadcast("room", diff(joins={"a": [meta("1")]}), event=DIFF_EVENT)
    new_event = InfoEvent(DIFF_EVENT, diff(joins={"b": [meta("2")]}))
    new = Info(new_event, rejoined, Broadcast("room"), next(orders))
    inbox.put(old, 0.0)
    inbox.put(new, 0.0)  # the old view's info is dropped when its turn comes: not this one
    handed = []
    while (first := inbox.first(1.0)) is not None:
        handed.append(inbox.pop(first, 1.0))
    assert [(info.socket, info.event) for info in handed] == [
        (SOCKET, old.event),
        (rejoined, new_event),
    ]


# -- presence diffs merge without loss -----------------------------------------------------

Meta = dict[str, t.Any]


def meta(ref: str, name: str = "") -> Meta:
    return {"name": name or ref, "phx_ref": ref}


def diff(
    joins: dict[str, list[Meta]] | None = None, leaves: dict[str, list[Meta]] | None = None
) -> dict[str, t.Any]:
    return {
        "joins": {key: {"metas": metas} for key, metas in (joins or {}).items()},
        "leaves": {key: {"metas": metas} for key, metas in (leaves or {}).items()},
    }


def apply(state: dict[str, tuple[str, Meta]], change: dict[str, t.Any]) -> None:
    """What a list does with a diff (Phoenix's syncDiff, WhosHere.apply): joins, then leaves."""
    for key, entry in change["joins"].items():
        for item in entry["metas"]:
            state[item["phx_ref"]] = (key, item)
    for entry in change["leaves"].values():
        for item in entry["metas"]:
            state.pop(item["phx_ref"], None)


REFS = [f"r{n}" for n in range(6)]
KEY_OF = {ref: f"k{int(ref[1:]) % 3}" for ref in REFS}  # a ref always belongs to one key


def diff_of(changes: list[tuple[str, bool]]) -> dict[str, t.Any]:
    """A diff joining (True) or leaving (False) each ref."""
    joins: dict[str, list[Meta]] = {}
    leaves: dict[str, list[Meta]] = {}
    for ref, joined in changes:
        (joins if joined else leaves).setdefault(KEY_OF[ref], []).append(meta(ref))
    return diff(joins, leaves)


changes = st.lists(st.tuples(st.sampled_from(REFS), st.booleans()), max_size=6).map(diff_of)


@examples(300)
@given(st.sets(st.sampled_from(REFS)), st.lists(changes, min_size=1, max_size=6))
def test_a_merged_diff_changes_any_list_as_the_diffs_one_after_the_other(
    listed: set[str], diffs: list[dict[str, t.Any]]
) -> None:
    # ``listed``: what the view listed before the diffs arrived (some may repeat it).
    one_by_one = {ref: (KEY_OF[ref], meta(ref)) for ref in listed}
    merged_state = dict(one_by_one)
    for change in diffs:
        apply(one_by_one, change)
    merged = diffs[0]
    for change in diffs[1:]:
        merged = merge_diffs(merged, change)
    assert is_diff(merged)
    apply(merged_state, merged)
    assert merged_state == one_by_one


def test_an_update_keeps_the_new_meta_last() -> None:
    old, new = meta("1", "Old"), meta("2", "New")
    merged = merge_diffs(diff(joins={"k": [old]}), diff(joins={"k": [new]}, leaves={"k": [old]}))
    assert merged == diff(joins={"k": [new]}, leaves={"k": [old]})
