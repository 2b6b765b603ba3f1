"""Change tracking for loops: reuse the entry of a row that did not change.

Most events change a row or two of a long list, yet every render evaluates
the whole loop. A loop whose body reads nothing but its own row and values
from around the loop (``root_path``, a selected id), through pure filters,
tests and functions (see ``compiler.pure``), renders the same entry for an
equal row among equal values, so the entry built last time is reused, and
the differ skips it by identity.

Only rows that can be compared safely are reused: scalars (a chain of JS
commands included), and dicts or tuples of scalars. Anything mutable inside
(a list, an ORM object) could change behind an equal-looking snapshot, so
such rows are always rendered.

A loop built directly (see ``compiler``) over a list of flat dicts of str,
int and None compares all its rows at once (``LoopMemo.plan``), in C, a pass
at a time: rows whose values are the very objects they were (a context
mutated in place), or equal ones at the same place, keep their entries, and
the loop runs over the others only.
"""

from __future__ import annotations

import typing as t
from bisect import bisect_right
from datetime import date
from itertools import accumulate, chain, compress, repeat
from operator import add, eq, is_, is_not, not_

from markupsafe import Markup

from .compiler import ForOpen, Item, is_pure, loop_item, loop_key
from .js import JsCommands
from .tree import Tree, fill

MEMO_VARIABLE = "__phx_memo"
# Equal values of one of these types render the same, and never equal a value of another.
_EXACT = frozenset({str, int, type(None)})
# Also compared: Markup equals its str (but is not escaped), True equals 1 and 1.0,
# and a date: immutable, shown by its value.
_SCALARS = _EXACT | {float, bool, Markup, date}

Snapshot = tuple[t.Any, ...]
# What a loop kept of its last render: an entry (a loop built directly) or a marker, by row.
Kept = dict[Snapshot, t.Any]
_DICT = frozenset({dict})
# A loop's entries, their keys, and the rows to render with their new entries.
Plan = tuple[list[Tree], list[t.Hashable], list[t.Any], list[Tree]]
# A planned loop's rows, by place: their stand-ins and entries, their lengths,
# and all their keys and all their values, one after the other.
Rows = tuple[list[Snapshot], list[Tree], list[int], list[t.Any], list[t.Any]]


def snapshot(row: t.Any) -> Snapshot | None:
    """A hashable stand-in for ``row``, equal only for rows that render the same.

    A dict's keys and values (or a tuple's items) are compared with their
    types unless all are str, int or None, so ``Markup("<b>")`` never stands
    for ``"<b>"`` (an escaped row shown raw is an XSS), nor ``True`` for
    ``1``. Floats are compared by ``repr``: ``0.0 == -0.0``. None means the
    row cannot be compared safely.
    """
    kind = type(row)
    if kind is dict:
        items: tuple[t.Any, ...] = (*row, *row.values())
    elif kind is tuple:
        items = row
    elif kind in _SCALARS:
        return (kind, repr(row) if kind is float else row)
    elif kind is JsCommands:  # immutable: stands for what it renders
        return (kind, str(row))
    else:
        return None
    types = set(map(type, items))
    if types <= _EXACT:
        # A dict's stand-in is its keys then its values: no type object in it,
        # unlike every other stand-in, which starts with one.
        return items if kind is dict else (tuple, items)
    if not types <= _SCALARS:
        return None
    kinds = tuple(map(type, items))
    if float in types:
        items = tuple(repr(item) if type(item) is float else item for item in items)
    return (kind, items, kinds)


_PURE = ("pure",)  # what a pure function read by a loop body stands for


def _snapshot_reads(values: tuple[t.Any, ...]) -> Snapshot | None:
    """A stand-in for the values around a row, or None when one cannot be compared."""
    out = []
    for value in values:
        state = _PURE if is_pure(value) else snapshot(value)
        if state is None:
            return None
        out.append(state)
    return tuple(out)


class LoopMemo:
    """One loop's row markers: from the previous render, and for this one.

    ``last`` is the loop's planned rows last time, when it ran once then;
    ``record`` takes this render's, by loop id (``Memo.loop`` puts None there
    when the loop runs more than once).
    """

    def __init__(
        self,
        statics: list[str],
        previous: Kept,
        current: Kept,
        last: Rows | None = None,
        record: tuple[dict[int, Rows | None], int] | None = None,
    ) -> None:
        self._statics = statics
        self._previous = previous
        self._current = current
        self._last = last
        self._record = record

    def _state(self, row: t.Any, reads: tuple[t.Any, ...]) -> Snapshot | None:
        state = snapshot(row)
        if state is None or not reads:
            return state
        around = _snapshot_reads(reads)
        return None if around is None else (state, around)

    def row(self, row: t.Any, reads: tuple[t.Any, ...] = ()) -> Tree:
        """For a loop built directly: ``row``'s entry.

        The entry of an equal row last time, to reuse as it is; else a new,
        empty one for the loop to fill (an empty entry renders no slot, so
        filling it again changes nothing).
        """
        state = self._state(row, reads)
        entry: Tree = {}
        if state is None:
            return entry
        entry = self._previous.get(state, entry)
        self._current[state] = entry
        return entry

    def plan(self, rows: t.Any) -> Plan | None:
        """Every row's entry at once (see ``row``), for a list of flat dicts of str, int and None.

        The stand-ins are made and looked up in C, a pass over the rows at a
        time, not by a call per row; the loop then runs over the rows to render
        only. None for other rows: the loop asks ``row`` for each.
        """
        if type(rows) is not list and type(rows) is not tuple:
            return None
        if not set(map(type, rows)) <= _DICT:
            return None
        lengths = list(map(len, rows))
        flat_keys = list(chain.from_iterable(rows))
        flat_values = list(chain.from_iterable(map(dict.values, rows)))
        found = self._same_objects(rows, lengths, flat_keys, flat_values)
        if found is not None:
            states, changed = found
            entries, todo = self._in_place(states, changed)
        else:
            if not set(map(type, flat_keys)) <= _EXACT or not set(map(type, flat_values)) <= _EXACT:
                return None
            # As ``snapshot`` has them: keys then values.
            states = list(map(add, map(tuple, rows), map(tuple, map(dict.values, rows))))
            if self._last is not None and len(self._last[0]) == len(states):
                unequal = map(not_, map(eq, states, self._last[0]))
                entries, todo = self._in_place(states, list(compress(range(len(states)), unequal)))
            else:
                entries, todo = self._by_state(states)
        built: list[Tree] = []
        for index in todo:
            entry: Tree = {}
            entries[index] = entry
            built.append(entry)
            self._current[states[index]] = entry
        if self._record is not None:
            recorded, loop_id = self._record
            recorded.setdefault(loop_id, (states, entries, lengths, flat_keys, flat_values))
        ids: list[t.Hashable] = list(map(dict.get, rows, repeat("id")))
        return entries, ids, [rows[index] for index in todo], built

    def _same_objects(
        self, rows: t.Any, lengths: list[int], flat_keys: list[t.Any], flat_values: list[t.Any]
    ) -> tuple[list[Snapshot], list[int]] | None:
        """Stand-ins by place, when the rows have last time's shape: the rows whose keys
        and values are the very objects they were keep their stand-in (str, int and None
        do not change), the others get a new one. Returns them with the changed rows.

        None when the shape changed, or a changed row holds another type.
        """
        if self._last is None:
            return None
        last_states, _, last_lengths, last_keys, last_values = self._last
        if lengths != last_lengths:
            return None
        odd = set(compress(range(len(flat_keys)), map(is_not, flat_keys, last_keys)))
        odd.update(compress(range(len(flat_values)), map(is_not, flat_values, last_values)))
        if not odd:
            return last_states, []
        ends = list(accumulate(lengths))
        changed = sorted({bisect_right(ends, at) for at in odd})
        states = list(last_states)
        for index in changed:
            row = rows[index]
            state = (*row, *row.values())
            if not set(map(type, state)) <= _EXACT:
                return None
            states[index] = state
        return states, changed

    def _by_state(self, states: list[Snapshot]) -> tuple[list[Tree], list[int]]:
        """Each row's entry found by its stand-in: the rows to render are left None."""
        entries = list(map(self._previous.get, states))
        todo = list(compress(range(len(entries)), map(is_, entries, repeat(None))))
        self._current.update(zip(states, entries, strict=True))
        return t.cast(list[Tree], entries), todo

    def _in_place(self, states: list[Snapshot], changed: list[int]) -> tuple[list[Tree], list[int]]:
        """The entries of a list as long as last time: the rows equal at their place keep
        theirs, with no look-up; the ``changed`` are found by their stand-in, or rendered.

        Stand-ins of str, int and None only are equal only when they render the same.
        """
        last_states, last_entries = t.cast(Rows, self._last)[:2]
        entries = list(last_entries)
        self._current.update(self._previous)  # the loop's own, from the one run last time
        for index in changed:
            self._current.pop(last_states[index], None)
        todo = []
        for index in changed:
            entry = self._previous.get(states[index])
            if entry is None:
                todo.append(index)
            else:
                entries[index] = self._current[states[index]] = entry
        return entries, todo

    def item(self, row: t.Any, reads: tuple[t.Any, ...] = ()) -> Item:
        """The marker of ``row``: one reusing its entry when an equal row rendered last time.

        ``reads`` are the values of the other names the loop body reads: the
        entry is reused only when they are equal too (a pure function always is).
        """
        state = self._state(row, reads)
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
        self._previous: dict[int, Kept] = {}
        self._current: dict[int, Kept] = {}
        # Planned loops' rows by place, for those that ran once (see ``LoopMemo.plan``).
        self._rows_previous: dict[int, Rows] = {}
        self._rows_current: dict[int, Rows | None] = {}

    def loop(self, loop: ForOpen) -> LoopMemo:
        loop_id = loop.loop_id
        last = None
        if loop_id in self._current:  # a second run in this render: its places are not kept
            self._rows_current[loop_id] = None
        else:
            last = self._rows_previous.get(loop_id)
        current = self._current.setdefault(loop_id, {})
        previous = self._previous.get(loop_id, {})
        return LoopMemo(loop.statics, previous, current, last, (self._rows_current, loop_id))

    def rendered(self) -> None:
        """Call after each render: only entries used by it are kept for the next."""
        self._previous, self._current = self._current, {}
        rows = self._rows_current.items()
        self._rows_previous = {loop_id: kept for loop_id, kept in rows if kept is not None}
        self._rows_current = {}

    def discard(self) -> None:
        """Forget a render that failed half-way: its entries may be incomplete."""
        self._current = {}
        self._rows_current = {}


def loop_memo(context: t.Any, loop: ForOpen) -> LoopMemo | None:
    """The memo of ``loop`` when the render has one (live renders; never plain HTML).

    A stream's loop has none: its rows are sent once and forgotten, never reused.
    """
    if loop.stream is not None:
        return None
    memo = context.get(MEMO_VARIABLE)
    return memo.loop(loop) if isinstance(memo, Memo) else None
