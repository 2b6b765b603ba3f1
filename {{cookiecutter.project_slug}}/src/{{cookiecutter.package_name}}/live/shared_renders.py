"""Renders shared by the views a broadcast reaches: one render, one diff, one encoding.

A broadcast to a thousand views of one page makes each run ``handle_info``,
and most then render the same template from the same values and send the
same diff. The first to render a template from a context keeps its tree here
for a moment; a view that renders that template from an equal context takes
the tree instead of rendering, and the diff too, encoded as JSON, when the
tree it holds is the very one (by identity) the diff was made from. Each view
puts its own join_ref and topic before those bytes (``protocol.frame_head``).
Views whose trees differ share the new tree all the same, and so hold the
same one after it: from the next broadcast on they share the diff too.

Contexts are equal by ``memo.snapshot``: scalars, and flat dicts or tuples of
scalars. Any other value (a list, an ORM object, a stream, an upload) could
change behind an equal-looking stand-in, so a context holding one is never
shared. A dict of other variables of the context, the very same objects (the
view's ``context``, beside its keys), stands for their names.

Only a template whose output is a function of its context is shared: every
global it reads (with what it includes) a comparable value or a function
marked ``pure``, every filter and test pure (``compiler.template_reads``). A
global reading a clock, the database or the person's locale makes its
template render in each view, as it must.

The channel shares only a view with nothing of its own in the message
(``LiveChannel._alone``). A tree is never changed once sent, so many views may
hold one. Few renders are kept, briefly (``KEPT``, ``LIFETIME``): the share
never grows with the clients.
"""

from __future__ import annotations

import time
import typing as t
import weakref
from collections import ChainMap, deque

import jinja2

from .compiler import template_reads
from .diff import diff_tree
from .memo import snapshot, snapshot_reads
from .protocol import encode_json
from .shared_statics import share_statics
from .tree import Tree

KEPT = 32  # renders kept at most: the distinct contexts a broadcast's views render at once
LIFETIME = 1.0  # seconds a render is shared: a fan-out takes far less
DIFFS_KEPT = 4  # diffs kept per render, by the tree each turns into it

Key = tuple[jinja2.Template, tuple[t.Any, ...]]
_ALIAS = object()  # starts the stand-in of a dict of other variables: no snapshot does
_UNKNOWN = object()  # a template whose names are not known yet


class SharedRender:
    """A tree some views take instead of rendering, and its diffs from the trees they held."""

    def __init__(self, tree: Tree, made: float) -> None:
        self.tree = tree
        self.made = made
        self._diffs: deque[tuple[Tree, str]] = deque(maxlen=DIFFS_KEPT)

    def diff_from(self, previous: Tree) -> str:
        """The JSON of the ``diff`` that turns ``previous`` into this tree; "" when none."""
        for tree, payload in self._diffs:
            if tree is previous:
                return payload
        diff = diff_tree(previous, self.tree)
        payload = encode_json(share_statics(diff)) if diff else ""
        self._diffs.append((previous, payload))  # holding ``previous``: its id stays its own
        return payload


class SharedRenders:
    """This process's renders that views of the same template and context may share."""

    def __init__(
        self,
        kept: int = KEPT,
        lifetime: float = LIFETIME,
        clock: t.Callable[[], float] = time.monotonic,
    ) -> None:
        self._kept = kept
        self._lifetime = lifetime
        self._clock = clock
        self._renders: dict[Key, SharedRender] = {}  # oldest first
        # The names each template may read (None: it is not shareable).
        self._reads: weakref.WeakKeyDictionary[jinja2.Template, frozenset[str] | None] = (
            weakref.WeakKeyDictionary()
        )

    def key(self, template: jinja2.Template, context: t.Mapping[str, t.Any]) -> Key | None:
        """What a render of ``template`` from ``context`` is shared by; None: not shareable."""
        reads = self._reads.get(template, _UNKNOWN)
        if reads is _UNKNOWN:
            reads = self._reads[template] = template_reads(template)
        if reads is None:
            return None
        names, values = _globals_read(template, t.cast("frozenset[str]", reads), context)
        around = snapshot_reads(values)
        if around is None:
            return None  # a global whose value may differ by view, or by the time
        states: list[t.Any] = [names, around]  # a dict global that changes, say
        for name, value in context.items():
            state = snapshot(value)
            if state is None:
                state = _alias(value, context)
                if state is None:
                    return None
            states.append(name)
            states.append(state)
        return template, tuple(states)

    def get(self, key: Key) -> SharedRender | None:
        """The render kept for ``key``, unless there is none or it is too old."""
        render = self._renders.get(key)
        if render is not None and self._clock() - render.made > self._lifetime:
            del self._renders[key]  # with the trees it holds
            return None
        return render

    def put(self, key: Key, tree: Tree) -> SharedRender:
        """Keep ``tree``, a view's render for ``key``, for the views that render it next."""
        now = self._clock()
        renders = self._renders
        renders.pop(key, None)
        for oldest in list(renders):  # oldest first: stop at the first one young enough
            if len(renders) < self._kept and now - renders[oldest].made <= self._lifetime:
                break
            del renders[oldest]
        render = renders[key] = SharedRender(tree, now)
        return render


def _globals_read(
    template: jinja2.Template, reads: frozenset[str], context: t.Mapping[str, t.Any]
) -> tuple[tuple[str, ...], tuple[t.Any, ...]]:
    """The globals ``template`` reads, less those ``context`` hides: their names and values.

    Its scopes one by one, as ``ChainMap`` looks, without its cost: this runs for
    every view a broadcast reaches.
    """
    known = template.globals
    scopes = known.maps if type(known) is ChainMap else (known,)
    names, values = [], []
    for name in reads:
        if name not in context:
            for scope in scopes:
                if name in scope:
                    names.append(name)
                    values.append(scope[name])
                    break
    return tuple(names), tuple(values)


def _alias(value: t.Any, context: t.Mapping[str, t.Any]) -> tuple[t.Any, ...] | None:
    """The stand-in of a dict whose items are variables of ``context``, the same objects
    (snapshotted as variables): their names. None for any other value."""
    if type(value) is not dict:
        return None
    for name, item in value.items():
        if type(name) is not str or context.get(name, _ALIAS) is not item:
            return None
    return (_ALIAS, *value)
