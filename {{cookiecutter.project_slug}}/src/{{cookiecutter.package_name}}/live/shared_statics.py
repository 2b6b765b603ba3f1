"""Send statics repeated inside a comprehension once, in its ``"p"`` table.

A node nested in a loop body (an ``{% if %}`` in every row, an inner loop)
carries the same statics in every entry. The client accepts an integer
``"s"`` that indexes the ``"p"`` of the nearest enclosing comprehension
(PROTOCOL.md, "p (templates)"), so each distinct statics list crosses the
wire once per message. Applied to a tree or a diff just before it is sent;
the input is not modified.
"""

from __future__ import annotations

import typing as t

from .tree import SLOT, Tree


class _Templates:
    def __init__(self) -> None:
        self.table: dict[str, list[str]] = {}
        self._index: dict[int, int] = {}

    def index(self, statics: list[str]) -> int:
        found = self._index.get(id(statics))
        if found is None:
            found = self._index[id(statics)] = len(self.table)
            self.table[SLOT[found]] = statics
        return found


def share_statics(tree: Tree) -> Tree:
    """A copy of ``tree`` (a rendered tree or a diff) with repeated statics moved to ``"p"``."""
    return t.cast(Tree, _share(tree, None))


def _share(value: t.Any, templates: _Templates | None) -> t.Any:
    if not isinstance(value, dict):
        return value
    if "k" in value:
        own = _Templates() if templates is None else None
        inner = own or t.cast(_Templates, templates)
        out = {key: item for key, item in value.items() if key != "k"}
        if "s" in value:
            out["s"] = _statics(value["s"], templates)
        out["k"] = {key: _share_entry(entry, inner) for key, entry in value["k"].items()}
        if own is not None and own.table:
            out["p"] = own.table
        return out
    return {
        key: _statics(item, templates) if key == "s" else _share(item, templates)
        for key, item in value.items()
    }


def _statics(statics: t.Any, templates: _Templates | None) -> t.Any:
    return (
        templates.index(statics) if templates is not None and isinstance(statics, list) else statics
    )


def _share_entry(entry: t.Any, templates: _Templates) -> t.Any:
    """An entry of ``"k"``: slots, a moved index, ``[old_index, diff]``, or ``kc``/``km``."""
    if isinstance(entry, list):
        return [entry[0], _share(entry[1], templates)]
    return _share(entry, templates)
