"""The rendered tree: Phoenix LiveView's wire format for a render.

A node is ``{"s": statics, "0": slot, "1": slot, ...}``; a slot holds escaped
HTML (``str``), a nested node, or a keyed comprehension
``{"s": statics, "k": {"0": entry, ..., "kc": n}}`` whose entries are dicts of
slots. ``build_tree`` assembles it from the marker stream the compiled
template yields; ``to_html`` turns it back into HTML.
"""

from __future__ import annotations

import contextlib
import typing as t
import weakref
from collections.abc import Iterator
from contextvars import ContextVar

from markupsafe import Markup

from .compiler import INT_TEXTS, Cid, Close, ForOpen, Item, Open, Static, int_text

Tree = dict[str, t.Any]


SLOT_KEYS_KEPT = len(INT_TEXTS)  # bounds the cache below: a 300k-row table must not grow it
SLOT_NAMES = INT_TEXTS


class _SlotKeys(dict[int, str]):
    """``SLOT[i] == str(i)``, without formatting an int per slot for the first few thousand."""

    def __missing__(self, index: int) -> str:
        key = int_text(index)
        if -1 < index < SLOT_KEYS_KEPT:
            self[index] = key
        return key


SLOT = _SlotKeys()


def slot_names(count: int) -> t.Sequence[str]:
    """The keys of ``count`` slots or entries, ``"0"`` to ``str(count - 1)``, made in C."""
    if count <= SLOT_KEYS_KEPT:
        return SLOT_NAMES[:count]
    return SLOT_NAMES + tuple(map(str, range(SLOT_KEYS_KEPT, count)))


class Comprehension(dict[str, t.Any]):
    """A keyed comprehension; ``entry_keys`` (never sent) let the differ match rows.

    A stream's comprehension (``streamed``) holds only the rows inserted by
    this render and, when it has operations, their ``"stream"`` entry; the
    client keeps its rows in the DOM and empties it once rendered.
    """

    entry_keys: list[t.Hashable | None]
    streamed = False
    _base: weakref.ref[Comprehension] | None = None
    _changed: list[int]

    def __init__(self, statics: list[str]) -> None:
        super().__init__(s=statics, k={})
        self.entry_keys = []

    def changed(self, base: Comprehension, indexes: list[int]) -> None:
        """Say this comprehension holds ``base``'s entries, in their places, but at ``indexes``.

        Change tracking knows it (see ``memo``); the differ then looks at those
        entries only. Held weakly: a render keeps no older one alive.
        """
        self._base, self._changed = weakref.ref(base), indexes

    def changes_from(self, old: Tree) -> list[int] | None:
        """The indexes of the entries that may differ from ``old``'s, when known."""
        base = self._base
        return self._changed if base is not None and base() is old else None


class StreamedTree(dict[str, t.Any]):
    """A rendered tree with stream comprehensions, listed for ``forget_streams``."""

    streams: list[Comprehension]


# During a live render: the stream comprehensions made so far.
_STREAMS: ContextVar[list[Comprehension] | None] = ContextVar("streams", default=None)


def comprehension(loop: ForOpen) -> Comprehension:
    """The comprehension of one render of ``loop``: a stream's carries its operations."""
    made = Comprehension(loop.statics)
    operations = loop.stream
    if operations is not None:
        made.streamed = True
        if operations:
            made["stream"] = operations
        streams = _STREAMS.get()
        if streams is not None:
            streams.append(made)
    return made


def close_comprehension(made: Comprehension, entries: list[Tree]) -> None:
    """Give a comprehension built directly its entries, keyed ``"0"``, ``"1"``…"""
    count = len(entries)
    keyed: dict[str, t.Any] = dict(zip(slot_names(count), entries, strict=True))
    keyed["kc"] = count
    made["k"] = keyed


@contextlib.contextmanager
def collecting_streams() -> Iterator[list[Comprehension]]:
    """List the stream comprehensions a live render makes, for ``with_streams``."""
    streams: list[Comprehension] = []
    token = _STREAMS.set(streams)
    try:
        yield streams
    finally:
        _STREAMS.reset(token)


def with_streams(tree: Tree, streams: list[Comprehension]) -> Tree:
    """``tree``, listing its stream comprehensions when it has any."""
    if not streams:
        return tree
    streamed = StreamedTree(tree)
    streamed.streams = streams
    return streamed


def forget_streams(tree: Tree) -> None:
    """Empty the stream comprehensions of a tree that was sent, as the client does.

    The rows a stream inserted are the client's to keep: the server holds
    none after the render, however long the list.
    """
    for comprehension in getattr(tree, "streams", ()):
        comprehension["k"] = {"kc": 0}
        comprehension.pop("stream", None)
        comprehension.entry_keys = []


def build_tree(events: t.Iterable[str | Comprehension]) -> Tree:
    """Assemble the rendered tree from a compiled template's output stream.

    A loop built directly comes as its whole comprehension.
    """
    stack: list[tuple[t.Any, t.Any, int]] = []
    holder: Tree = {}
    current: t.Any = None  # the node or comprehension being built
    target: t.Any = holder  # the dict that receives the next slot
    index = 0
    for event in events:
        kind = type(event)
        if kind is Static:
            continue
        if kind is Markup or kind is str or kind is Comprehension:
            target[SLOT[index]] = event
            index += 1
        elif kind is Item:
            keys = current.entry_keys
            entry = event.entry  # type: ignore[union-attr]
            if entry is None:
                target = entry = event.built = {}  # type: ignore[union-attr]
            else:
                target = None  # a reused entry: no slots follow
            current["k"][SLOT[len(keys)]] = entry
            keys.append(event.key)  # type: ignore[union-attr]
            index = 0
        elif kind is Open:
            stack.append((current, target, index))
            current = target = {"s": event.statics}  # type: ignore[union-attr]
            index = 0
        elif kind is ForOpen:
            stack.append((current, target, index))
            current = comprehension(t.cast(ForOpen, event))
            target = None
        elif kind is Close:
            if type(current) is Comprehension:
                current["k"]["kc"] = len(current.entry_keys)
            done = current
            current, target, index = stack.pop()
            target[SLOT[index]] = done
            index += 1
        elif kind is Cid:
            target[SLOT[index]] = event.cid  # type: ignore[union-attr]
            index += 1
        else:
            target[SLOT[index]] = str(event)
            index += 1
    if stack or "0" not in holder:
        raise ValueError("template output is not a complete rendered tree")
    return t.cast(Tree, holder["0"])


def join_html(parts: t.Iterable[str | Comprehension]) -> str:
    """Jinja's ``concat`` for live templates: a loop built directly is a comprehension.

    ``Template.render``, macros and ``super()`` join what a template yields.
    """
    return "".join([to_html(part) for part in parts])


def to_html(node: t.Any, components: t.Mapping[int, Tree] | None = None) -> str:
    """Render a tree (or any slot value) to HTML, as the client would.

    A slot holding a cid renders that component's tree, from ``components``.
    """
    if isinstance(node, str):
        return node
    if type(node) is int:
        if components is None:
            raise ValueError(f"component {node} rendered without its components")
        return to_html(components[node], components)
    statics = node["s"]
    if "k" in node:
        keyed = node["k"]
        return "".join(fill(statics, keyed[SLOT[i]], components) for i in range(keyed["kc"]))
    return fill(statics, node, components)


def fill(
    statics: list[str], slots: Tree, components: t.Mapping[int, Tree] | None = None
) -> str:
    """The HTML of one node or comprehension entry: statics interleaved with its slots."""
    parts = [statics[0]]
    for i in range(1, len(statics)):
        parts.append(to_html(slots[SLOT[i - 1]], components))
        parts.append(statics[i])
    return "".join(parts)
