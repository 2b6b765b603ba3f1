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
int and None compares all its rows at once (``LoopMemo.plan``), in C. When
the rows have last render's lengths, one pass over their values and one over
their keys find the rows that are not the very objects they were (a context
mutated in place): the loop renders those only, and the comprehension tells
the differ which entries they are (or, none changed, holds last render's
entries dict itself). Otherwise (rows inserted or removed, or many changed,
as when fetched anew) the rows equal to last render's, at their place or
anywhere, keep their entries. Without a notice of what changed, those passes
over every key and value are the floor of a tracked render's cost.
"""

from __future__ import annotations

import typing as t
from bisect import bisect_right
from datetime import date
from itertools import accumulate, chain, compress, repeat
from operator import add, eq, is_, length_hint, not_

from markupsafe import Markup

from .compiler import ForOpen, Item, is_pure, loop_item, loop_key
from .js import JsCommands
from .tree import SLOT, Comprehension, Tree, close_comprehension, fill

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
# The rows to render and their new, empty entries (see ``LoopMemo.plan``).
Plan = tuple[list[t.Any], list[Tree]]
# Past this share of changed rows, all rows are compared by stand-in at once, in C.
_FEW_CHANGED = 8


class Rows:
    """A planned loop's last render, by place: each row's stand-in, entry, length and
    key (``id``), all the rows' keys and values one after the other, and the
    comprehension it made."""

    __slots__ = ("states", "entries", "lengths", "keys", "values", "ids", "made")

    def __init__(
        self,
        states: list[Snapshot],
        entries: list[Tree],
        lengths: list[int],
        keys: list[t.Any],
        values: list[t.Any],
        ids: list[t.Hashable | None],
        made: Comprehension,
    ) -> None:
        self.states, self.entries, self.lengths = states, entries, lengths
        self.keys, self.values, self.ids, self.made = keys, values, ids, made


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
    elif kind is JsCommands:  # immutable: stands for what it renders (kept, made once)
        return (kind, row.__html__())
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


_PURE = ("pure",)  # what a pure function read (by a loop body, say) stands for


def snapshot_reads(values: tuple[t.Any, ...]) -> Snapshot | None:
    """A stand-in for values a template reads (around a loop's row, or its globals), or
    None when one cannot be compared: pure functions stand for themselves."""
    out = []
    for value in values:
        state = _PURE if is_pure(value) else snapshot(value)
        if state is None:
            return None
        out.append(state)
    return tuple(out)


def _changed_rows(rows: t.Sequence[dict[t.Any, t.Any]], last: Rows) -> list[int] | None:
    """The rows, by place, whose keys or values are not the very objects they were
    (rows of last time's lengths); None when more than one row in ``_FEW_CHANGED``
    changed, or as many of their keys and values: all rows are compared at once then.

    Values of str, int and None that are the same objects render the same,
    and holding them keeps them alive, so identity says it all. A changed row
    is found by one pass in C over the values, and one over the keys.
    """
    most = len(rows) // _FEW_CHANGED
    odd = _not_same(chain.from_iterable(map(dict.values, rows)), last.values, most)
    if odd is not None:
        keys = _not_same(chain.from_iterable(rows), last.keys, most - len(odd))
        odd = None if keys is None else odd + keys
    if not odd:
        return odd
    width = _width(last.lengths)
    if width:
        changed = sorted({at // width for at in odd})
    else:
        ends = list(accumulate(last.lengths))
        changed = sorted({bisect_right(ends, at) for at in odd})
    return None if len(changed) > most else changed


def _width(lengths: list[int]) -> int:
    """How many keys every row has, when all have as many (else 0): where a row starts
    among all the rows' keys is then its index times that."""
    width = lengths[0] if lengths else 0
    return width if lengths.count(width) == len(lengths) else 0


def _not_same(items: t.Iterator[t.Any], last: list[t.Any], most: int) -> list[int] | None:
    """Where ``items`` (as many as ``last``) are not the objects in ``last``; None past
    ``most`` of them.

    ``all`` stops at each one; how far it got is what is left of ``last``.
    """
    rest = iter(last)
    same = map(is_, items, rest)
    end, odd = len(last) - 1, list[int]()
    while not all(same):
        if len(odd) == most:
            return None
        odd.append(end - length_hint(rest))
    return odd


def _new_entries(todo: list[int], entries: list[t.Any]) -> list[Tree]:
    """New, empty entries for the rows at ``todo``, put in ``entries`` and returned."""
    built: list[Tree] = []
    for index in todo:
        entry: Tree = {}
        entries[index] = entry
        built.append(entry)
    return built


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
        self._kept = previous if last is None else None
        self._current = current
        self._last = last
        self._record = record

    @property
    def _previous(self) -> Kept:
        """Last render's entries by stand-in: a planned loop kept them by place (``Rows``)."""
        if self._kept is None:
            last = t.cast(Rows, self._last)
            self._kept = dict(zip(last.states, last.entries, strict=True))
        return self._kept

    def _state(self, row: t.Any, reads: tuple[t.Any, ...]) -> Snapshot | None:
        state = snapshot(row)
        if state is None or not reads:
            return state
        around = snapshot_reads(reads)
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

    def plan(self, rows: t.Any, made: Comprehension) -> Plan | None:
        """Give ``made`` every row's entry at once (see ``row``), for a list of flat dicts of
        str, int and None; return the rows to render and their new, empty entries.

        The rows are compared in C, a pass over them at a time, not by a call
        per row; the loop then runs over the rows to render only. When the
        rows have last time's shape, ``made`` tells the differ which entries
        are new (``Comprehension.changed``); when none is, it holds last
        time's entries dict itself. None for other rows: the loop asks
        ``row`` for each.
        """
        if type(rows) is not list and type(rows) is not tuple:
            return None
        if not set(map(type, rows)) <= _DICT:
            return None
        lengths = list(map(len, rows))
        last = self._last
        if last is None or lengths != last.lengths:
            return self._compare(rows, made, lengths, None)
        changed = _changed_rows(rows, last)
        if changed is None:
            return self._compare(rows, made, lengths, last)
        return self._patch(rows, made, last, changed)

    def _compare(
        self, rows: t.Any, made: Comprehension, lengths: list[int], same_shape: Rows | None
    ) -> Plan | None:
        """``plan`` comparing every row's stand-in: by place with ``same_shape``, last
        render's rows of the same lengths, else by stand-in only."""
        keys = list(chain.from_iterable(rows))
        values = list(chain.from_iterable(map(dict.values, rows)))
        if not set(map(type, keys)) <= _EXACT or not set(map(type, values)) <= _EXACT:
            return None
        # As ``snapshot`` has them: keys then values.
        states = list(map(add, map(tuple, rows), map(tuple, map(dict.values, rows))))
        entries: list[t.Any]
        if same_shape is None:
            entries = list(map(self._previous.get, states))
        else:
            unequal = map(not_, map(eq, states, same_shape.states))
            changed = list(compress(range(len(states)), unequal))
            entries = list(same_shape.entries)
            for index in changed:
                entries[index] = self._previous.get(states[index])
        todo = list(compress(range(len(entries)), map(is_, entries, repeat(None))))
        ids: list[t.Hashable | None] = list(map(dict.get, rows, repeat("id")))
        built = _new_entries(todo, entries)
        close_comprehension(made, entries)
        made.entry_keys = ids
        if same_shape is not None:
            made.changed(same_shape.made, changed)
        self._keep(Rows(states, entries, lengths, keys, values, ids, made))
        return [rows[index] for index in todo], built

    def _patch(
        self, rows: t.Any, made: Comprehension, last: Rows, changed: list[int]
    ) -> Plan | None:
        """``plan`` for rows of last time's shape, a few of them ``changed``: those are
        rendered anew, every other keeps its entry, with no look-up.

        ``last`` becomes this render's rows, patched in place rather than
        copied (a failed render forgets it: see ``Memo.discard``). Its entries
        dict is copied: the previous tree still holds it.
        """
        states = []
        for index in changed:
            row = rows[index]
            state = (*row, *row.values())
            if not set(map(type, state)) <= _EXACT:
                return None
            states.append(state)
        built: list[Tree] = []
        keyed = last.made["k"]
        if changed:
            keyed = dict(keyed)
            if any(rows[index].get("id") is not last.ids[index] for index in changed):
                # A new list: the previous tree holds the other.
                last.ids = list(map(dict.get, rows, repeat("id")))
            width = _width(last.lengths)
            starts = range(0, len(last.keys), width) if width else [0, *accumulate(last.lengths)]
            for index, state in zip(changed, states, strict=True):
                row, start = rows[index], starts[index]
                end = start + len(row)
                last.keys[start:end], last.values[start:end] = row, row.values()
                entry: Tree = {}
                last.states[index] = state
                last.entries[index] = keyed[SLOT[index]] = entry
                built.append(entry)
            made.changed(last.made, changed)
        made["k"], made.entry_keys, last.made = keyed, last.ids, made
        self._keep(last)
        return [rows[index] for index in changed], built

    def _keep(self, rows: Rows) -> None:
        """Record this render's rows by place, for the next; a loop that ran before in
        this render keeps them by stand-in instead."""
        kept = None
        if self._record is not None:
            recorded, loop_id = self._record
            kept = recorded.setdefault(loop_id, rows)
        if kept is not rows:
            self._current.update(zip(rows.states, rows.entries, strict=True))

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
        current = self._current.get(loop_id)
        if current is None:
            current = self._current[loop_id] = {}
        else:  # a second run in this render: its places are not kept, its entries are
            first = self._rows_current.get(loop_id)
            if first is not None:
                current.update(zip(first.states, first.entries, strict=True))
            self._rows_current[loop_id] = None
        previous = self._previous.get(loop_id, {})
        last = self._rows_previous.get(loop_id)
        return LoopMemo(loop.statics, previous, current, last, (self._rows_current, loop_id))

    def rendered(self) -> None:
        """Call after each render: only entries used by it are kept for the next."""
        self._previous, self._current = self._current, {}
        rows = self._rows_current.items()
        self._rows_previous = {loop_id: kept for loop_id, kept in rows if kept is not None}
        self._rows_current = {}

    def discard(self) -> None:
        """Forget a render that failed half-way: its entries may be incomplete, and the
        rows it planned were patched in place (see ``LoopMemo._patch``)."""
        self._current = {}
        self._rows_current = {}
        self._rows_previous = {}


def loop_memo(context: t.Any, loop: ForOpen) -> LoopMemo | None:
    """The memo of ``loop`` when the render has one (live renders; never plain HTML).

    A stream's loop has none: its rows are sent once and forgotten, never reused.
    """
    if loop.stream is not None:
        return None
    memo = context.get(MEMO_VARIABLE)
    return memo.loop(loop) if isinstance(memo, Memo) else None
