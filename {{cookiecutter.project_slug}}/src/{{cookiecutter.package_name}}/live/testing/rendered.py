"""The official client's merge, ported: a rendered tree, the diffs merged into it, its HTML.

A port of ``rendered.js`` (``mergeDiff``, ``mutableMerge``, ``mergeKeyed``,
``cachedFindComponent``, ``cloneMerge``, ``toString`` with templates ``p``) for
what this runtime sends: nodes, keyed comprehensions (with ``km`` moves),
templates, components (``c``, statics shared by ``"s": cid``) and streams.
Plain Python on purpose: ``bench/bench_diff.py`` checks every engine's diffs
with it, without the test client's httpx and selectolax.

A stream's rows are kept as the browser keeps the children of its
``phx-update="stream"`` container (``dom_patch``): inserted at their ``at``,
updated in place when their id is shown, trimmed to their ``limit``, removed
by a delete or a reset. The container's other children are not counted.
"""

from __future__ import annotations

import copy
import html
import json
import re
import typing as t
from dataclasses import dataclass

from .errors import DiffError

Tree = dict[str, t.Any]

_MISSING: t.Any = object()
_ROOT_ID = re.compile(r'\s*<[^\s>/]+[^>]*?\sid="([^"]*)"')
Streams = dict[str, list[tuple[str, str]]]  # a stream's ref: its rows, (DOM id, HTML), in order
# Where the client adds a component's attributes: after its root element's tag name.
_ROOT_TAG = re.compile(r"\A\s*(?:<!--.*?-->\s*)*<[a-zA-Z][^\s/>]*", re.DOTALL)


@dataclass
class Extracted:
    """What ``Rendered.extract`` strips from the top of a diff before merging it."""

    diff: Tree
    title: t.Any
    events: list[t.Any]
    reply: t.Any


class Rendered:
    """A view's rendered tree, merged and rendered as the official client does.

    It renders after every merge, as the client does, because templates are
    valid only in the diff that carries them: rendering resolves them into the
    tree. Root flags (``r``) only drive the client's DOM-patching attributes
    (``data-phx-id``, ``data-phx-skip``), which ``html`` leaves out. Where the
    client would render ``undefined`` or throw, ``DiffError`` says why.
    """

    def __init__(self, rendered: Tree | None = None) -> None:
        self.tree: Tree = {}
        self.components: dict[str, Tree] = {}  # by cid, as the client keeps them
        self.shown: set[str] = set()  # the cids the last render showed
        self.html = ""
        self.streams: Streams = {}
        if rendered is not None:
            self.merge(rendered)

    @staticmethod
    def extract(diff: Tree) -> Extracted:
        """Strip the hook reply ``r``, events ``e`` and title ``t`` from the top of a diff."""
        reply, events, title = diff.pop("r", None), diff.pop("e", None), diff.pop("t", None)
        return Extracted(diff, title, events or [], reply)

    def merge(self, diff: Tree) -> None:
        """Merge an extracted diff (the join's ``rendered`` first), then render."""
        if not isinstance(diff, dict):
            raise DiffError(f"a diff must be an object, got {diff!r}")
        changed = diff.get("c")
        if changed is not None:
            diff = {key: value for key, value in diff.items() if key != "c"}
        self.tree = diff if "s" in diff else _merge_into(self.tree, diff)
        if changed is not None:
            if not isinstance(changed, dict):
                raise DiffError(f"c must be an object, got {changed!r}")
            cache: dict[str, Tree] = {}
            found = {
                cid: _find_component(cid, changed, self.components, cache) for cid in changed
            }
            self.components.update(found)
        out: list[str] = []
        self.shown = set()
        _render(self.tree, None, out, "", self)
        self.html = "".join(out)

    def prune(self, cids: t.Iterable[t.Any]) -> None:
        """The client's ``pruneCIDs``: forget components the server destroyed."""
        for cid in cids:
            self.components.pop(_key(cid), None)

    def component_html(self, cid: str) -> str:
        """A component's HTML, its root element tagged ``data-phx-component`` as the client does."""
        component = self.components.get(cid)
        if component is None:
            raise DiffError(f"no component for CID {cid} (the client throws)")
        self.shown.add(cid)
        out: list[str] = []
        _render(component, None, out, f"c{cid}", self)
        html = "".join(out)
        root = _ROOT_TAG.match(html)
        if root is None:
            raise DiffError(f"component {cid} does not start with an element: malformed html")
        return f'{root.group()} data-phx-component="{cid}"{html[root.end() :]}'


# -- components --------------------------------------------------------------------


def _find_component(
    cid: str, changed: Tree, old: dict[str, Tree], cache: dict[str, Tree]
) -> Tree:
    """The client's ``cachedFindComponent``: a component's new tree from its diff."""
    if cid in cache:
        return cache[cid]
    diff = changed.get(cid)
    if not isinstance(diff, dict):
        raise DiffError(f"component {cid} in c is {diff!r}, not an object")
    source = diff.get("s")
    if _is_number(source):
        shared = (
            _find_component(_key(source), changed, old, cache)
            if source > 0
            else old.get(_key(-source))
        )
        if shared is None:
            raise DiffError(f"component {cid} shares the statics of {-source}, which is gone")
        found = _clone_merge(shared, diff)
        found["s"] = shared["s"]
    elif "s" in diff or cid not in old:
        found = diff
    else:
        found = _clone_merge(old[cid], diff)
    cache[cid] = found
    return found


def _clone_merge(target: Tree, source: Tree) -> Tree:
    """The client's ``cloneMerge``: ``source`` merged into a copy of ``target``."""
    if _truthy(source.get("k")):
        merged = copy.deepcopy(target)
        _merge_keyed(merged, source)
        return merged
    merged = {**target, **source}
    for key in merged:
        value, before = source.get(key, _MISSING), target.get(key)
        if isinstance(value, dict) and "s" not in value and isinstance(before, dict):
            merged[key] = _clone_merge(before, value)
        elif value is _MISSING and isinstance(before, dict):
            merged[key] = _clone_merge(before, {})
    return merged


# -- merging -----------------------------------------------------------------------


def _merge_into(target: t.Any, source: t.Any) -> t.Any:
    """The client's ``doMutableMerge``: objects without ``s`` merge, anything else replaces."""
    if not isinstance(target, dict) or not isinstance(source, dict):
        raise DiffError(f"cannot merge {source!r} into {target!r}")
    if _truthy(source.get("k")):
        _merge_keyed(target, source)
        return target
    for key, value in source.items():
        before = target.get(key)
        if isinstance(value, dict) and "s" not in value and isinstance(before, dict):
            _merge_into(before, value)
        else:
            target[key] = value
    return target


def _merge_keyed(target: Tree, source: Tree) -> None:
    """The client's ``mergeKeyed``: entries merge in place, or move (``km``) from old positions."""
    entries, current = source["k"], target.get("k")
    if not isinstance(entries, dict) or not isinstance(current, dict):
        raise DiffError(
            f"a keyed diff {source!r} landed on {target!r}, which is not a comprehension"
        )
    if "kc" not in entries:
        raise DiffError(f"a keyed diff without kc: {entries!r}")
    # Moves read entries from their old positions: the client clones first.
    before = copy.deepcopy(current) if _truthy(entries.get("km")) else None
    for index, entry in entries.items():
        if index in ("kc", "km"):
            continue
        if isinstance(entry, list) or _is_number(entry):
            if before is None:
                raise DiffError(f"entry {index} moved without km (the client throws): {entries!r}")
            old, change = (entry + [None])[:2] if isinstance(entry, list) else (entry, _MISSING)
            moved = before.get(_key(old))
            if not isinstance(moved, dict):
                raise DiffError(f"entry {index} moved from {old!r}, which does not exist")
            current[index] = moved
            if change is not _MISSING:
                _merge_into(moved, change)
        elif isinstance(entry, dict):
            if not _truthy(current.get(index)):
                current[index] = {}
            _merge_into(current[index], entry)
        elif entry is None:
            raise DiffError(f"entry {index} is null")
    count, old_count = entries["kc"], current.get("kc")
    if _is_number(count) and _is_number(old_count) and count < old_count:
        for i in range(int(count), int(old_count)):
            current.pop(str(i), None)
    current["kc"] = count
    if _truthy(source.get("stream")):
        target["stream"] = source["stream"]
    if _truthy(source.get("p")):
        target["p"] = source["p"]


# -- rendering ---------------------------------------------------------------------


def _render(node: Tree, templates: t.Any, out: list[str], path: str, rendered: Rendered) -> None:
    """A node's HTML into ``out``; statics taken from a template are stored in the node."""
    if _truthy(node.get("k")):
        _render_comprehension(node, templates, out, path, rendered)
        return
    if _truthy(node.get("p")):
        templates = node.pop("p")
    statics = node["s"] = _statics(node.get("s", _MISSING), templates, path)
    _render_entry(node, statics, templates, out, path, rendered)


def _render_comprehension(
    node: Tree, templates: t.Any, out: list[str], path: str, rendered: Rendered
) -> None:
    """Each keyed entry with the comprehension's statics; its own ``p`` serves the entries.

    A stream's comprehension shows the rows the browser keeps instead.
    """
    entry_templates = templates if _truthy(templates) else node.get("p")
    statics = node["s"] = _statics(node.get("s", _MISSING), templates, path)
    node.pop("p", None)
    entries = node["k"]
    count = entries.get("kc")
    if not isinstance(count, int):
        raise DiffError(f"comprehension at {path or '/'} has no valid kc: {count!r}")
    stream = node.get("stream")
    rows: list[str] = [] if stream else out
    for i in range(count):
        entry = entries.get(str(i))
        if not isinstance(entry, dict):
            raise DiffError(f"comprehension at {path or '/'} has {count} entries but no entry {i}")
        start = len(rows)
        _render_entry(entry, statics, entry_templates, rows, f"{path}/k{i}", rendered)
        if stream:
            rows[start:] = ["".join(rows[start:])]
    if stream:
        out.extend(row for _, row in _patch_stream(node, stream, rows, rendered.streams, path))


def _patch_stream(
    node: Tree, stream: t.Any, rows: list[str], streams: Streams, path: str
) -> list[tuple[str, str]]:
    """Apply a stream's operations to the rows kept, as ``dom_patch`` does; its rows after.

    Once applied, the comprehension is emptied as ``rendered.js`` does (it
    keeps a ``stream`` entry with no operations, to know its rows).
    """
    if not (isinstance(stream, list) and len(stream) > 2 and all(map(_is_list, stream[1:3]))):
        raise DiffError(f"stream at {path or '/'} is not [ref, inserts, deletes(, reset)]")
    ref, inserts, deletes = str(stream[0]), stream[1], stream[2]
    if len(stream) > 3:  # the client resets on any fourth element
        streams[ref] = []
    for deleted in deletes:
        for kept in streams.values():
            kept[:] = [row for row in kept if row[0] != deleted]
    kept = streams.setdefault(ref, [])
    options = {insert[0]: insert for insert in inserts if _is_list(insert) and len(insert) > 2}
    for row in rows:
        found = _ROOT_ID.match(row)
        if found is None:
            raise DiffError(f"a row of stream {ref!r} has no id on its root element: {row!r}")
        dom_id = html.unescape(found[1])
        # [dom_id, at, limit(, update_only)]; an element no insert names is appended.
        insert = [*options.get(dom_id, [dom_id, -1, None]), False]
        at, limit, update_only = insert[1], insert[2], insert[3] is True
        shown = next((i for i, (key, _) in enumerate(kept) if key == dom_id), None)
        if shown is not None:
            kept[shown] = (dom_id, row)
            continue
        if update_only:
            continue
        position = len(kept) if at == -1 or not _is_number(at) else int(at)
        kept.insert(position, (dom_id, row))
        if _is_number(limit) and limit >= 0:
            del kept[int(limit) :]
        elif _is_number(limit) and len(kept) > -limit:
            del kept[: len(kept) + int(limit)]
    node["k"], node["stream"] = {"kc": 0}, [ref, [], []]
    return kept


def _render_entry(
    node: Tree, statics: list[str], templates: t.Any, out: list[str], path: str, rendered: Rendered
) -> None:
    """Statics and the node's slots ``"0"``, ``"1"``… in turn."""
    for i in range(len(statics) - 1):
        out.append(statics[i])
        _render_slot(node, i, templates, out, path, rendered)
    out.append(statics[-1])


def _statics(statics: t.Any, templates: t.Any, path: str) -> list[str]:
    """A node's statics: its ``s``, or the template its number points at."""
    if _is_number(statics):
        found = templates.get(_key(statics)) if isinstance(templates, dict) else None
        if found is None:
            raise DiffError(
                f"node at {path or '/'} uses template {statics!r}, which no enclosing p defines"
            )
        statics = found
    if (
        not isinstance(statics, list)
        or not statics
        or not all(isinstance(part, str) for part in statics)
    ):
        raise DiffError(f"node at {path or '/'} has no statics (the client throws): {statics!r}")
    return statics


def _render_slot(
    node: Tree, i: int, templates: t.Any, out: list[str], path: str, rendered: Rendered
) -> None:
    value = node.get(str(i), _MISSING)
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        _render(value, templates, out, f"{path}/{i}", rendered)
    elif isinstance(value, bool) or value is None:
        out.append(json.dumps(value))  # the client writes true, false and null as text
    elif _is_number(value):
        out.append(rendered.component_html(_key(value)))
    elif value is _MISSING:
        raise DiffError(f"slot {path}/{i} is missing: the client would render 'undefined'")
    else:
        raise DiffError(f"slot {path}/{i} holds {value!r}, which the client cannot render")


# -- JavaScript semantics ----------------------------------------------------------


def _truthy(value: t.Any) -> bool:
    """JavaScript truthiness, for the tests the client makes with ``if (x)``."""
    return not (
        value is None
        or value is False
        or value == ""
        or (isinstance(value, int | float) and value == 0)
    )


def _is_list(value: t.Any) -> bool:
    return isinstance(value, list)


def _is_number(value: t.Any) -> t.TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _key(index: t.Any) -> str:
    """A JavaScript property key for a number (``1`` and ``1.0`` are both ``"1"``)."""
    if isinstance(index, float) and index.is_integer():
        return str(int(index))
    return str(index)
