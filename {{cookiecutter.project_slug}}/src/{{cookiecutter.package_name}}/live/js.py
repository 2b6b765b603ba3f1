"""JS commands: client-side effects a template attaches to a binding, run by the official client.

``phx-click="{{ js.hide('#modal').push('close') }}"`` hides the element at
once in the browser, then sends ``close`` to ``handle_event``: no round trip
before the page reacts. Each method returns a new chain with one more
command (a chain never changes), encoded as the client's ``js.js`` reads it:
a JSON list of ``[kind, args]``, HTML-escaped for the attribute it lands in.
The names and arguments follow PyView's ``js`` module (and Phoenix's ``JS``).

``to`` is a CSS selector (every match in the page), or ``{"closest": sel}``
/ ``{"inner": sel}`` relative to the element the binding is on; without it a
command acts on that element. Transitions are a class string, or a triple
(transition classes, start classes, end classes), each a string or a list.
"""

from __future__ import annotations

import html
import json
import typing as t
from collections.abc import Mapping, Sequence

Target = str | Mapping[str, str]
TransitionPart = str | Sequence[str]
Transition = str | tuple[TransitionPart, TransitionPart, TransitionPart] | list[str]
DEFAULT_TIME = 200  # ms, the client's own default transition time
# Chains kept in a process to be found again (see ``JsCommands``); past that, built anew.
MAX_SHARED = 1024
# Arguments whose equal values encode alike, given their type: a chain of only these (and
# lists of them: classes, transitions) is kept.
_SHAREABLE = frozenset({str, int, bool})


def _format_transition(transition: Transition) -> list[list[str]]:
    """A transition as the client's ``[[transition], [start], [end]]`` class lists."""
    if isinstance(transition, str):
        return [transition.split(), [], []]
    if isinstance(transition, tuple) and len(transition) == 3:
        return [_classes(part) for part in transition]
    if isinstance(transition, list) and all(isinstance(name, str) for name in transition):
        return [list(transition), [], []]
    raise ValueError(
        f"a transition is a class string or a (transition, start, end) triple, not {transition!r}"
    )


def _classes(names: TransitionPart) -> list[str]:
    return names.split() if isinstance(names, str) else list(names)


def _kept_as(value: t.Any) -> t.Hashable | None:
    """What ``value`` is kept by in a chain's key: typed, as True and 1 are equal, yet encode
    as true and 1; None when it cannot be (a dict: a mutable value from the page's data)."""
    kind = type(value)
    if kind in _SHAREABLE:
        return (kind, value)
    if kind is list:
        items = tuple(map(_kept_as, value))
        return None if None in items else (list, items)
    return None


def _names(names: str | Sequence[str]) -> list[str]:
    """``add_class`` and friends take one name, a space-separated string, or a list."""
    return names.split() if isinstance(names, str) else list(names)


class JsCommands:
    """An immutable chain of JS commands; ``js`` (the empty chain) starts one.

    In a template it renders as its escaped JSON; ``str()`` is the JSON itself.

    A template builds the same chains at every render, in every view (the flash
    group's four on every page): a chain of str, int and bool arguments made
    from ``js`` is kept, up to ``MAX_SHARED`` in a process, and found again by
    its commands, its JSON made once, one string for every view's tree.
    """

    __slots__ = ("commands", "_following", "_html")
    _room: t.ClassVar[int] = MAX_SHARED  # chains that may still be kept

    def __init__(self, commands: Sequence[tuple[str, dict[str, t.Any]]] = ()) -> None:
        self.commands: tuple[tuple[str, dict[str, t.Any]], ...] = tuple(commands)
        # A kept chain's longer chains, by their last command; None: this one is not kept.
        self._following: dict[t.Hashable, JsCommands] | None = None
        self._html: str | None = None

    def _add(self, kind: str, **args: t.Any) -> JsCommands:
        """This chain plus one command; arguments left at their default (None) are omitted."""
        command = (kind, {k: v for k, v in args.items() if v is not None})
        following = self._following
        if following is None:
            return JsCommands((*self.commands, command))
        values = tuple(map(_kept_as, command[1].values()))
        if None in values:
            return JsCommands((*self.commands, command))
        key = (kind, *command[1], *values)
        chain = following.get(key)
        if chain is None:
            chain = JsCommands((*self.commands, command))
            if JsCommands._room > 0:
                JsCommands._room -= 1
                chain._following = {}
                following[key] = chain
        return chain

    def _animated(
        self,
        kind: str,
        to: Target | None,
        transition: Transition | None,
        time: int,
        blocking: bool,
        **args: t.Any,
    ) -> JsCommands:
        """A command that may run a transition: ``time`` is sent only along with one."""
        animated = transition is not None
        return self._add(
            kind,
            **args,
            to=to,
            transition=None if transition is None else _format_transition(transition),
            time=time if animated else None,
            blocking=None if blocking else False,
        )

    # -- visibility ------------------------------------------------------

    def show(
        self,
        to: Target | None = None,
        *,
        transition: Transition | None = None,
        time: int = DEFAULT_TIME,
        display: str | None = None,
        blocking: bool = True,
    ) -> JsCommands:
        """Show the element(s) with ``display`` (by default ``block``, ``table-row``…)."""
        return self._animated("show", to, transition, time, blocking, display=display)

    def hide(
        self,
        to: Target | None = None,
        *,
        transition: Transition | None = None,
        time: int = DEFAULT_TIME,
        blocking: bool = True,
    ) -> JsCommands:
        """Hide the element(s). The client keeps them hidden across the server's patches."""
        return self._animated("hide", to, transition, time, blocking)

    def toggle(
        self,
        to: Target | None = None,
        *,
        in_transition: Transition | None = None,
        out_transition: Transition | None = None,
        time: int = DEFAULT_TIME,
        display: str | None = None,
        blocking: bool = True,
    ) -> JsCommands:
        """Show the element(s) when hidden, hide them when shown."""
        animated = in_transition is not None or out_transition is not None
        return self._add(
            "toggle",
            to=to,
            ins=None if in_transition is None else _format_transition(in_transition),
            outs=None if out_transition is None else _format_transition(out_transition),
            time=time if animated else None,
            display=display,
            blocking=None if blocking else False,
        )

    # -- classes and transitions -------------------------------------------

    def add_class(
        self,
        names: str | Sequence[str],
        *,
        to: Target | None = None,
        transition: Transition | None = None,
        time: int = DEFAULT_TIME,
        blocking: bool = True,
    ) -> JsCommands:
        """Add CSS classes to the element(s)."""
        return self._animated("add_class", to, transition, time, blocking, names=_names(names))

    def remove_class(
        self,
        names: str | Sequence[str],
        *,
        to: Target | None = None,
        transition: Transition | None = None,
        time: int = DEFAULT_TIME,
        blocking: bool = True,
    ) -> JsCommands:
        """Remove CSS classes from the element(s)."""
        return self._animated("remove_class", to, transition, time, blocking, names=_names(names))

    def toggle_class(
        self,
        names: str | Sequence[str],
        *,
        to: Target | None = None,
        transition: Transition | None = None,
        time: int = DEFAULT_TIME,
        blocking: bool = True,
    ) -> JsCommands:
        """Add each class the element lacks, remove each it has."""
        return self._animated("toggle_class", to, transition, time, blocking, names=_names(names))

    def transition(
        self,
        transition: Transition,
        *,
        to: Target | None = None,
        time: int = DEFAULT_TIME,
        blocking: bool = True,
    ) -> JsCommands:
        """Run a transition (``"shake"``) on the element(s), leaving their classes as they were."""
        return self._animated("transition", to, transition, time, blocking)

    # -- attributes ------------------------------------------------------

    def set_attribute(self, attr: str | tuple[str, str], *, to: Target | None = None) -> JsCommands:
        """Set ``(name, value)``; a bare name sets it empty (``disabled``)."""
        return self._add(
            "set_attr", attr=[attr, ""] if isinstance(attr, str) else list(attr), to=to
        )

    def remove_attribute(self, attr: str, *, to: Target | None = None) -> JsCommands:
        """Remove an attribute."""
        return self._add("remove_attr", attr=attr, to=to)

    def toggle_attribute(
        self, attr: str | tuple[str, str] | tuple[str, str, str], *, to: Target | None = None
    ) -> JsCommands:
        """Add or remove ``name`` (or ``(name, value)``), or flip ``(name, on, off)``."""
        return self._add(
            "toggle_attr", attr=[attr, ""] if isinstance(attr, str) else list(attr), to=to
        )

    def ignore_attributes(
        self, attrs: str | Sequence[str], *, to: Target | None = None
    ) -> JsCommands:
        """Keep the client's own value of these attributes (``open``) when the server patches."""
        return self._add(
            "ignore_attrs", attrs=[attrs] if isinstance(attrs, str) else list(attrs), to=to
        )

    # -- events and navigation -------------------------------------------

    def push(
        self,
        event: str,
        *,
        target: str | None = None,
        value: Mapping[str, t.Any] | None = None,
        loading: str | None = None,
        page_loading: bool = False,
    ) -> JsCommands:
        """Send ``event`` to ``handle_event``, with ``value`` merged into the element's values.

        ``loading`` names elements that get the ``phx-*-loading`` classes
        meanwhile; ``page_loading`` shows the page-loading bar.
        """
        return self._add(
            "push",
            event=event,
            target=target,
            value=dict(value) if value else None,
            loading=loading,
            page_loading=True if page_loading else None,
        )

    def dispatch(
        self,
        event: str,
        to: Target | None = None,
        *,
        detail: Mapping[str, t.Any] | None = None,
        bubbles: bool = True,
    ) -> JsCommands:
        """Dispatch the DOM event ``event`` (``detail`` in ``event.detail``) on the element(s)."""
        return self._add(
            "dispatch",
            event=event,
            to=to,
            detail=dict(detail) if detail else None,
            bubbles=None if bubbles else False,
        )

    def navigate(self, href: str, *, replace: bool = False) -> JsCommands:
        """Go to another LiveView over the same socket (a new ``mount``)."""
        return self._add("navigate", href=href, replace=True if replace else None)

    def patch(self, href: str, *, replace: bool = False) -> JsCommands:
        """Change this view's URL: ``handle_params`` runs again, ``mount`` does not."""
        return self._add("patch", href=href, replace=True if replace else None)

    # -- focus -----------------------------------------------------------

    def focus(self, *, to: Target | None = None) -> JsCommands:
        """Focus the element."""
        return self._add("focus", to=to)

    def focus_first(self, *, to: Target | None = None) -> JsCommands:
        """Focus the first focusable element inside it (a dialog's first field)."""
        return self._add("focus_first", to=to)

    def push_focus(self, *, to: Target | None = None) -> JsCommands:
        """Remember the element (the one with the binding by default) for ``pop_focus``."""
        return self._add("push_focus", to=to)

    def pop_focus(self) -> JsCommands:
        """Focus the element ``push_focus`` remembered last (back from a dialog)."""
        return self._add("pop_focus")

    def exec(self, attr: str, *, to: Target | None = None) -> JsCommands:
        """Run the commands stored in an attribute of the element (``data-cancel``)."""
        return self._add("exec", attr=attr, to=to)

    # -- encoding --------------------------------------------------------

    def __str__(self) -> str:
        """The JSON the client reads from a ``phx-*`` attribute."""
        return json.dumps([[kind, args] for kind, args in self.commands], separators=(",", ":"))

    def __html__(self) -> str:
        """The JSON, escaped for an attribute value (quoted with ``"`` or ``'``)."""
        if self._html is None:
            self._html = html.escape(str(self), quote=True)
        return self._html

    def __repr__(self) -> str:
        return f"JsCommands({str(self)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JsCommands) and str(other) == str(self)

    def __hash__(self) -> int:
        return hash(str(self))


js = JsCommands()
"""The empty chain, and every template's ``js``: ``js.show("#menu")`` starts a chain."""
js._following = {}  # every kept chain starts here
