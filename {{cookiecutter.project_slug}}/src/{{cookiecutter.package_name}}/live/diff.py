"""Minimal diffs between two rendered trees, in the wire format the client merges.

Rules (see PROTOCOL.md, "Merge rules"): an unchanged slot is left out; a node
whose statics changed is sent whole (the client replaces anything carrying
``"s"``); a comprehension sends only the entries that changed, plus ``kc``,
and entries that moved are sent as their old index (``km`` set). A stream's
comprehension sends its rows whole with its ``stream`` entry, whatever the
old tree held: the client empties it once rendered (see ``stream``).
"""

from __future__ import annotations

import typing as t
from itertools import compress
from operator import ne

from .tree import SLOT, Comprehension, Tree, slot_names


def diff_tree(old: Tree, new: Tree) -> Tree:
    """The diff that turns ``old`` into ``new``; empty when nothing changed."""
    if not _same_statics(old, new):
        return new
    return _diff_same(old, new) or {}


def _same_statics(old: Tree, new: Tree) -> bool:
    """Same statics and same kind (a comprehension and a node may share equal statics)."""
    a, b = old["s"], new["s"]
    return (a is b or a == b) and ("k" in old) == ("k" in new)


def _diff_same(old: Tree, new: Tree) -> Tree | None:
    """Diff two nodes (or two entries) that share their statics."""
    if "k" in new:
        return _diff_comprehension(old, new)
    out: Tree | None = None
    for key, value in new.items():
        before = old.get(key)
        if value is before:
            continue
        if isinstance(value, dict):
            if isinstance(before, dict) and _same_statics(before, value):
                change = _diff_same(before, value)
                if change is None:
                    continue
                value = change
        elif value == before:
            continue
        if out is None:
            out = {}
        out[key] = value
    return out


def _diff_comprehension(old: Tree, new: Tree) -> Tree | None:
    old_k, new_k = old["k"], new["k"]
    new_count = new_k["kc"]
    # A stream's rows are all new, and the client emptied its comprehension once rendered.
    streamed = getattr(new, "streamed", False)
    if old_k is new_k and not streamed:  # the very entries (see ``memo``)
        return None
    old_count = 0 if streamed else old_k["kc"]
    old_keys, new_keys = getattr(old, "entry_keys", None), getattr(new, "entry_keys", ())
    if old_count == new_count and (old_keys is new_keys or old_keys == new_keys):
        changed = new.changes_from(old) if isinstance(new, Comprehension) else None
        return _diff_in_place(old_k, new_k, new_count, new.get("stream"), changed)
    out: Tree = {}
    moved = False
    old_at = None if streamed else _key_index(old, new)
    for i in range(new_count):
        slot = SLOT[i]
        entry = new_k[slot]
        j = i if old_at is None else old_at.get(new.entry_keys[i])  # type: ignore[attr-defined]
        if j is None:
            j = i  # a new key: the client merges it into whatever entry is at i
        if j >= old_count:
            out[slot] = entry  # past the old end: every slot
            continue
        before = old_k[SLOT[j]]
        change = None if before is entry or before == entry else _diff_same(before, entry)
        if j == i:
            if change:
                out[slot] = change
        else:
            moved = True
            out[slot] = [j, change] if change else j
    stream = new.get("stream")
    if not out and new_count == old_count and stream is None:
        return None
    out["kc"] = new_count
    if moved:
        out["km"] = True
    return {"k": out} if stream is None else {"k": out, "stream": stream}


def _diff_in_place(
    old_k: Tree,
    new_k: Tree,
    count: int,
    stream: list[t.Any] | None,
    changed: list[int] | None = None,
) -> Tree | None:
    """The diff of entries that kept their places: only those that changed are looked at.

    Finding them compares the entries in C (reused entries by identity), so
    an event that changed a row or two of a long list costs little more; when
    change tracking says which entries may have ``changed``, only those.
    """
    names = slot_names(count) if changed is None else [SLOT[i] for i in changed]
    olds = list(map(old_k.__getitem__, names))
    news = list(map(new_k.__getitem__, names))
    out: Tree = {}
    for name, before, entry in compress(zip(names, olds, news, strict=True), map(ne, olds, news)):
        change = _diff_same(before, entry)
        if change:
            out[name] = change
    if not out and stream is None:
        return None
    out["kc"] = count
    return {"k": out} if stream is None else {"k": out, "stream": stream}


def _key_index(old: Tree, new: Tree) -> dict[t.Hashable, int] | None:
    """Old position of each entry key, or None to match entries by position.

    Keys are used only when both renders key every entry uniquely.
    """
    old_keys = getattr(old, "entry_keys", None)
    new_keys = getattr(new, "entry_keys", None)
    if not old_keys or not new_keys or None in old_keys or None in new_keys:
        return None
    try:
        index = {key: i for i, key in enumerate(old_keys)}
        unique = len(index) == len(old_keys) and len(set(new_keys)) == len(new_keys)
    except TypeError:  # an unhashable id
        return None
    return index if unique else None
