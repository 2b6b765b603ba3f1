"""Streams: long lists whose rows live in the browser, not in the server's memory.

A ``Stream`` in a view's context holds only the operations made since the
last render: rows to insert (at the end, the top or an index, within an
optional ``limit``), DOM ids to delete, and whether to start over
(``reset``). A template loops over it as over ``(dom_id, item)`` pairs::

    <tbody id="contacts" phx-update="stream">
      {% for dom_id, contact in contacts %}<tr id="{{ dom_id }}">…</tr>{% endfor %}
    </tbody>

Rendering takes the pending operations: the loop's comprehension carries
them as its ``stream`` entry (``[ref, inserts, deletes]``, plus ``true`` on
a reset), its entries are the inserted rows only, and the client keeps the
rows of a ``phx-update="stream"`` container across diffs. A stream looped
over twice in one render gives each loop the same operations. The names
and behaviour follow PyView's ``Stream`` (``pyview/stream.py``).

Only a live ``{% for %}`` (in the template, an included one, or a
component's) sends operations. During a live render, a stream is an error
anywhere else: in a macro, a ``{% set %}`` or ``{% call %}`` block, behind
a filter (``|reverse``), in ``{% if stream %}`` (the server cannot know
whether the browser shows rows), or in a loop with ``{% else %}``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import re
import typing as t
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

from jinja2 import TemplateRuntimeError

from .compiler import ForOpen

T = t.TypeVar("T")
# The client finds a reset stream's rows with a CSS selector quoting its name.
_NAME = re.compile(r"[A-Za-z0-9_-]+")
# During a live render: the operations each stream rendered so far gave its loops.
_RENDERED: ContextVar[dict[int, StreamOps | None] | None] = ContextVar("rendered", default=None)


@dataclass
class StreamInsert:
    """A row to insert (or to update in place, when its DOM id is shown already)."""

    dom_id: str
    item: t.Any
    at: int
    limit: int | None
    update_only: bool


@dataclass
class StreamOps:
    """The operations of one stream since its last render."""

    ref: str
    inserts: list[StreamInsert] = field(default_factory=list)
    deletes: list[str] = field(default_factory=list)
    reset: bool = False

    def has_operations(self) -> bool:
        return bool(self.inserts or self.deletes or self.reset)


class Stream(t.Generic[T]):
    """A list shown by the browser; the server remembers only what changed since the last render.

    ``name`` is the stream's reference on the wire and the prefix of its DOM
    ids (letters, digits, ``-`` and ``_``): ``dom_id`` (default
    ``"{name}-{id}"``, the id read from ``item.id`` or else ``item["id"]``)
    names each row's element.
    """

    def __init__(
        self,
        items: t.Iterable[T] | None = None,
        *,
        name: str,
        dom_id: t.Callable[[T], str] | None = None,
    ) -> None:
        if not name:
            raise ValueError("Stream 'name' is required")
        if not _NAME.fullmatch(name):
            raise ValueError(f"a stream's name is letters, digits, - and _: not {name!r}")
        self.name = name
        self._dom_id = dom_id or self._default_dom_id
        self._ops = StreamOps(ref=name)
        if items:
            self.insert_many(items)

    def _default_dom_id(self, item: T) -> str:
        if hasattr(item, "id"):
            return f"{self.name}-{item.id}"
        if isinstance(item, dict) and "id" in item:
            return f"{self.name}-{item['id']}"
        raise ValueError(
            f"Cannot generate DOM ID for item {item!r}: give it an 'id' attribute or key,"
            " or give the stream a dom_id function"
        )

    def insert(
        self, item: T, *, at: int = -1, limit: int | None = None, update_only: bool = False
    ) -> str:
        """Insert ``item`` at ``at`` (-1: the end, 0: the top, n: before the n-th row).

        A row whose DOM id is shown already is updated where it is. ``limit``
        keeps the first ``limit`` rows (the last ``-limit`` when negative);
        ``update_only`` updates a shown row and never adds one. Returns its DOM id.
        """
        if at < -1:
            raise ValueError(f"at is -1 (the end), 0 (the top) or a row's index, not {at}")
        dom_id = self._dom_id(item)
        self._ops.inserts.append(StreamInsert(dom_id, item, at, limit, update_only))
        return dom_id

    def insert_many(
        self, items: t.Iterable[T], *, at: int = -1, limit: int | None = None
    ) -> list[str]:
        """Insert each of ``items`` in turn (so ``at=0`` shows them in reverse order)."""
        return [self.insert(item, at=at, limit=limit) for item in items]

    def delete(self, item: T) -> str:
        """Remove ``item``'s row; returns its DOM id."""
        return self.delete_by_id(self._dom_id(item))

    def delete_by_id(self, dom_id: str) -> str:
        """Remove the row whose element has this DOM id."""
        self._ops.deletes.append(dom_id)
        return dom_id

    def reset(self, items: t.Iterable[T] | None = None) -> None:
        """Remove every row shown (and every insert not yet sent), then show ``items``."""
        self._ops.reset = True
        self._ops.inserts.clear()
        if items:
            self.insert_many(items)

    def __iter__(self) -> t.Iterator[tuple[str, T]]:
        """The rows to render: ``(dom_id, item)`` for each pending insert."""
        self._refuse_in_live_render(
            "can only be looped over by a {% for %} of the template (not in a macro,"
            " a {% set %} or {% call %} block, nor behind a filter)"
        )
        return ((insert.dom_id, insert.item) for insert in self._ops.inserts)

    def __len__(self) -> int:
        return len(self._ops.inserts)

    def __bool__(self) -> bool:
        """True when operations are pending (PyView's meaning); an error in a live render."""
        self._refuse_in_live_render(
            "has no truth value: the browser holds its rows. Keep a flag or count in the"
            " context, or show the empty state with CSS (hidden only:block)"
        )
        return self._ops.has_operations()

    def _refuse_in_live_render(self, reason: str) -> None:
        if _RENDERED.get() is not None:
            raise TemplateRuntimeError(f"stream {self.name!r} {reason}")

    def __repr__(self) -> str:
        return f"<Stream {self.name!r}: {len(self)} pending inserts>"

    def _get_pending_ops(self) -> StreamOps | None:
        """Take the pending operations (None when there are none): the render sends them,
        each row once and none the client would drop at once (see ``_kept``)."""
        if not self._ops.has_operations():
            return None
        ops, self._ops = self._ops, StreamOps(ref=self.name)
        ops.inserts = _kept(ops)
        return ops

    @staticmethod
    def _to_wire_format(ops: StreamOps) -> list[t.Any]:
        """The comprehension's ``stream`` entry, as the client reads it (``rendered.js``).

        An insert is ``[dom_id, at, limit]``, with ``true`` after it for
        ``update_only``; the reset flag is there only when set (the client
        resets on any fourth element, even ``false``).
        """
        inserts = [
            [i.dom_id, i.at, i.limit, True] if i.update_only else [i.dom_id, i.at, i.limit]
            for i in ops.inserts
        ]
        wire = [ops.ref, inserts, ops.deletes]
        return [*wire, True] if ops.reset else wire

    def _get_wire_format(self) -> list[t.Any] | None:
        """PyView's shortcut: take the pending operations in their wire format."""
        ops = self._get_pending_ops()
        return None if ops is None else self._to_wire_format(ops)


def _kept(ops: StreamOps) -> list[StreamInsert]:
    """The inserts worth sending: a row inserted again is sent once, at the place of its
    last insert, as Phoenix does (two elements with one DOM id otherwise).

    After a reset the client's container holds none of the stream's rows, so
    every row is new there, and inserts that all share one ``at`` (top or end)
    and ``limit`` keep only ``abs(limit)`` rows: the newest when each pushes
    the older ones past the limit (top with ``limit >= 0``, end with a
    negative one), else the oldest. Those alone are sent. Without a reset the
    server cannot tell: a row the client shows already is updated in place and
    pushes nothing out, so every row is sent and the client applies the limit.
    """
    seen: set[str] = set()
    unique = []
    for insert in reversed(ops.inserts):
        if insert.dom_id not in seen:
            seen.add(insert.dom_id)
            unique.append(insert)
    unique.reverse()
    if not (ops.reset and unique):
        return unique
    at, limit = unique[0].at, unique[0].limit
    uniform = all(i.at == at and i.limit == limit and not i.update_only for i in unique)
    if limit is None or at not in (0, -1) or not uniform:
        return unique
    keep = abs(limit)
    newest = (at == 0) == (limit >= 0)
    return unique[max(0, len(unique) - keep) :] if newest else unique[:keep]


@contextlib.contextmanager
def live_render() -> Iterator[None]:
    """Mark a live render: each stream's first loop takes its operations, and
    a second loop over it gets the same."""
    token = _RENDERED.set({})
    try:
        yield
    finally:
        _RENDERED.reset(token)


def open_loop(loop: ForOpen, iterable: t.Any, has_else: bool = False) -> tuple[ForOpen, t.Any]:
    """The marker and rows of a live ``{% for %}``: a stream's loop takes its operations.

    Called by compiled templates before each loop. For a ``Stream`` the
    marker carries its wire operations (an empty list when it has none) and
    the rows are the taken inserts: the stream is empty afterwards.
    """
    if not isinstance(iterable, Stream):
        return loop, iterable
    if has_else:
        raise TemplateRuntimeError(
            f"a loop over stream {iterable.name!r} cannot have an {{% else %}}: it renders"
            " only the rows inserted since the last render"
        )
    rendered = _RENDERED.get()
    if rendered is None:  # a plain HTML render (``template.render``)
        ops = iterable._get_pending_ops()
    elif id(iterable) in rendered:
        ops = rendered[id(iterable)]
    else:
        ops = rendered[id(iterable)] = iterable._get_pending_ops()
    if ops is None:
        return loop.streaming([]), ()
    rows = [(insert.dom_id, insert.item) for insert in ops.inserts]
    return loop.streaming(Stream._to_wire_format(ops)), rows


def forget_pending(context: t.Mapping[str, t.Any]) -> None:
    """Drop what the streams of ``context`` hold after a render.

    A stream the template did not render (hidden by an ``{% if %}``) would
    otherwise keep growing: its operations are dropped, as Phoenix does. The
    streams looked at are the context's values, and the values of a dict or
    the fields of a dataclass among them (``streams.users``).
    """
    for value in context.values():
        inner: t.Iterable[t.Any] = ()
        if isinstance(value, dict):
            inner = value.values()
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            inner = (getattr(value, field.name) for field in dataclasses.fields(value))
        for stream in (value, *inner):
            if isinstance(stream, Stream):
                stream._get_pending_ops()
