"""Change tracking for loops: reuse the entry of a row that did not change.

Most events change a row or two of a long list, yet every render evaluates
the whole loop. A loop whose body reads nothing but its own row (checked when
the template is compiled) renders the same entry for an equal row, so the
entry built last time is reused, and the differ skips it by identity.

Only rows that can be compared safely are reused: scalars, and dicts or
tuples of scalars. Anything mutable inside (a list, an ORM object) could
change behind an equal-looking snapshot, so such rows are always rendered.
"""

from __future__ import annotations

import typing as t

from markupsafe import Markup

from .compiler import ForOpen, Item, loop_item, loop_key
from .tree import fill

MEMO_VARIABLE = "__phx_memo"
_SCALARS = frozenset({str, int, float, bool, type(None), Markup})

Snapshot = tuple[t.Any, ...]
_AMBIGUOUS = frozenset({bool, float})  # equal to ints in Python, rendered differently


def snapshot(row: t.Any) -> Snapshot | None:
    """A hashable stand-in for ``row``, equal only for rows that render the same.

    None means the row cannot be compared safely.
    """
    kind = type(row)
    if kind in _SCALARS:
        return (kind, row)
    if kind is dict:
        values = tuple(row.values())
        keys: tuple[t.Any, ...] | None = tuple(row)
    elif kind is tuple:
        values, keys = row, None
    else:
        return None
    types = set(map(type, values))
    if not types <= _SCALARS:
        return None
    if types & _AMBIGUOUS:
        return (keys, values, tuple(map(type, values)))
    return (keys, values)


class LoopMemo:
    """One loop's row markers: from the previous render, and for this one."""

    def __init__(
        self, statics: list[str], previous: dict[Snapshot, Item], current: dict[Snapshot, Item]
    ) -> None:
        self._statics = statics
        self._previous = previous
        self._current = current

    def item(self, row: t.Any) -> Item:
        """The marker of ``row``: one reusing its entry when an equal row rendered last time."""
        state = snapshot(row)
        if state is None:
            return loop_item(row)
        marker = self._previous.get(state)
        if marker is None or marker.built is None:
            marker = Item(loop_key(row))  # rendered afresh; the builder fills ``built``
        elif marker.entry is None:
            entry = marker.built
            marker = Item(marker.key, fill(self._statics, entry))  # made once, reused after
            marker.entry = marker.built = entry
        self._current[state] = marker
        return marker


class Memo:
    """What the loops of one LiveView rendered last time, kept between its renders."""

    def __init__(self) -> None:
        self._previous: dict[int, dict[Snapshot, Item]] = {}
        self._current: dict[int, dict[Snapshot, Item]] = {}

    def loop(self, loop: ForOpen) -> LoopMemo:
        current = self._current.setdefault(loop.loop_id, {})
        return LoopMemo(loop.statics, self._previous.get(loop.loop_id, {}), current)

    def rendered(self) -> None:
        """Call after each render: only entries used by it are kept for the next."""
        self._previous, self._current = self._current, {}

    def discard(self) -> None:
        """Forget a render that failed half-way: its entries may be incomplete."""
        self._current = {}


def loop_memo(context: t.Any, loop: ForOpen) -> LoopMemo | None:
    """The memo of ``loop`` when the render has one (live renders; never plain HTML)."""
    memo = context.get(MEMO_VARIABLE)
    return memo.loop(loop) if isinstance(memo, Memo) else None
