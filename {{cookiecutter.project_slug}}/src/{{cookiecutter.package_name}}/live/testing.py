"""Test LiveViews the way a browser uses them: Python's ``Phoenix.LiveViewTest``.

``live(app, "/path")`` does what the browser does, in-process and without a
server: the HTTP render (status checked, dead HTML kept), then a join over
the app's own WebSocket endpoint with the tokens and params the official
client sends. It keeps the rendered tree and merges every reply and push with
the official client's rules (``Rendered`` below, ported from its
``rendered.js``), so ``view.html()`` is what the browser would show. Tests act
only through the protocol -- clicks, forms, keys, patches -- never through the
view's internals, so a passing test means the browser would behave the same::

    from myapp.app import create_app
    from myapp.live.testing import live

    async def test_increment(app) -> None:
        async with live(app, "/counter?count=1") as view:
            await view.click("#increment")
            assert view.text("#count") == "2"

Actions return ``None``, or a ``Redirect`` when the view navigated away
(``push_navigate``, ``redirect``, a navigate link); ``follow_redirect()``
then loads the next view. Needs the dev extras ``httpx`` and ``selectolax``;
the app never imports this module.
"""

from __future__ import annotations

import asyncio
import json
import re
import typing as t
from collections.abc import AsyncIterator, Iterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from urllib.parse import quote_plus, urlencode, urljoin, urlsplit

import httpx
from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "DiffError",
    "HTTPError",
    "LiveTestError",
    "LiveViewTest",
    "PushedEvent",
    "Redirect",
    "Rendered",
    "ServerError",
    "live",
    "run_lifespan",
]

Tree = dict[str, t.Any]
Text = str | re.Pattern[str] | None
BASE_URL = "http://testserver"
SOCKET_PATH = "/live/websocket"
PHX_VALUE = "phx-value-"
SNIPPET = 1200  # characters of HTML shown in a failure message


# -- errors --------------------------------------------------------------------


class LiveTestError(AssertionError):
    """The test asked for something a browser could not do, or an expectation failed."""


class ServerError(Exception):
    """The server answered with an error; ``reason`` is what it said."""

    def __init__(self, what: str, response: Mapping[str, t.Any]) -> None:
        self.response = dict(response)
        self.reason: t.Any = response.get("reason", response)
        super().__init__(f"{what}: the server replied with an error: {self.reason}")


class HTTPError(ServerError):
    """The HTTP render answered with a status other than 200 or a redirect."""

    def __init__(self, url: str, status_code: int, text: str) -> None:
        self.status_code = status_code
        self.text = text
        super().__init__(f"GET {url}", {"reason": f"HTTP {status_code}: {text[:SNIPPET]}"})


class DiffError(ValueError):
    """A diff the official client could not merge or render: the server broke the protocol."""


@dataclass(frozen=True)
class Redirect:
    """Where the view went instead of staying.

    ``kind`` is ``"live_redirect"`` (``push_navigate`` or a navigate link: a
    new LiveView over the same socket) or ``"redirect"`` (a full page load).
    """

    to: str
    kind: t.Literal["live_redirect", "redirect"] = "redirect"
    replace: bool = False
    flash: str | None = None


@dataclass(frozen=True)
class PushedEvent:
    """An event the server pushed (``socket.push_event``): the browser's ``phx:<name>``."""

    name: str
    payload: t.Any


# -- the official client's merge -------------------------------------------------


@dataclass
class Extracted:
    """What ``Rendered.extract`` strips from the top of a diff before merging it."""

    diff: Tree
    title: t.Any
    events: list[t.Any]
    reply: t.Any


_MISSING: t.Any = object()


def _truthy(value: t.Any) -> bool:
    """JavaScript truthiness, for the tests the client makes with ``if (x)``."""
    return not (
        value is None
        or value is False
        or value == ""
        or (isinstance(value, int | float) and value == 0)
    )


def _is_number(value: t.Any) -> t.TypeGuard[int | float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _key(index: t.Any) -> str:
    """A JavaScript property key for a number (``1`` and ``1.0`` are both ``"1"``)."""
    if isinstance(index, float) and index.is_integer():
        return str(int(index))
    return str(index)


def _clone(value: t.Any) -> t.Any:
    if isinstance(value, dict):
        return {key: _clone(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_clone(item) for item in value]
    return value


class Rendered:
    """A view's rendered tree, merged and rendered as the official client does.

    A port of ``rendered.js`` (``mergeDiff``, ``mutableMerge``, ``mergeKeyed``,
    component statics sharing, ``toString`` with templates ``p``). It renders
    after every merge, as the client does, because templates are valid only in
    the diff that carries them. Root flags (``r``) only drive the client's
    DOM-patching attributes (``data-phx-id``, ``data-phx-skip``,
    ``data-phx-component``), which ``html`` leaves out; streams are refused.
    Where the client would render ``undefined`` or throw, ``DiffError`` says why.
    """

    def __init__(self, rendered: Tree | None = None) -> None:
        self.tree: Tree = {}
        self.html = ""
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
        new_components = diff.pop("c", None)
        self.tree = diff if "s" in diff else _merge_into(self.tree, diff)
        if not _truthy(self.tree.get("c")):
            self.tree["c"] = {}
        if new_components is not None:
            if not isinstance(new_components, dict):
                raise DiffError(f"c must map cids to components: {new_components!r}")
            old: Tree = self.tree["c"]
            cache: dict[str, Tree] = {}
            resolved = {
                cid: _component(cid, new_components[cid], old, new_components, cache)
                for cid in new_components
            }
            old.update(resolved)
        out: list[str] = []
        self._node(self.tree, None, out, "")
        self.html = "".join(out)

    # rendering

    def _node(self, node: Tree, templates: t.Any, out: list[str], path: str) -> None:
        if _truthy(node.get("k")):
            self._comprehension(node, templates, out, path)
            return
        if _truthy(node.get("p")):
            templates = node.pop("p")
        statics = node["s"] = self._statics(node.get("s", _MISSING), templates, path)
        for i in range(len(statics) - 1):
            out.append(statics[i])
            self._dynamic(node, i, templates, out, path)
        out.append(statics[-1])

    def _comprehension(self, node: Tree, templates: t.Any, out: list[str], path: str) -> None:
        entry_templates = templates if _truthy(templates) else node.get("p")
        statics = node["s"] = self._statics(node.get("s", _MISSING), templates, path)
        node.pop("p", None)
        entries = node["k"]
        count = entries.get("kc")
        if not isinstance(count, int):
            raise DiffError(f"comprehension at {path or '/'} has no valid kc: {count!r}")
        for i in range(count):
            entry = entries.get(str(i))
            if not isinstance(entry, dict):
                raise DiffError(
                    f"comprehension at {path or '/'} has {count} entries but no entry {i}"
                )
            for j in range(len(statics) - 1):
                out.append(statics[j])
                self._dynamic(entry, j, entry_templates, out, f"{path}/k{i}")
            out.append(statics[-1])

    @staticmethod
    def _statics(statics: t.Any, templates: t.Any, path: str) -> list[str]:
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
            raise DiffError(
                f"node at {path or '/'} has no statics (the client throws): {statics!r}"
            )
        return statics

    def _dynamic(self, node: Tree, i: int, templates: t.Any, out: list[str], path: str) -> None:
        value = node.get(str(i), _MISSING)
        if isinstance(value, str):
            out.append(value)
        elif isinstance(value, dict):
            self._node(value, templates, out, f"{path}/{i}")
        elif isinstance(value, bool) or value is None:
            out.append(json.dumps(value))  # the client writes true, false and null as text
        elif _is_number(value):
            component = self.tree["c"].get(_key(value))
            if not _truthy(component):
                raise DiffError(
                    f"slot {path}/{i} refers to component {value}, which does not exist"
                )
            self._node(component, None, out, f"c{_key(value)}")
        elif value is _MISSING:
            raise DiffError(f"slot {path}/{i} is missing: the client would render 'undefined'")
        else:
            raise DiffError(f"slot {path}/{i} holds {value!r}, which the client cannot render")


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
    if "stream" in source:
        raise DiffError("streams are not supported by the test client yet")
    # Moves read entries from their old positions: the client clones first.
    before = _clone(current) if _truthy(entries.get("km")) else None
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
    if _truthy(source.get("p")):
        target["p"] = source["p"]


def _component(cid: str, diff: t.Any, old: Tree, new: Tree, cache: dict[str, Tree]) -> Tree:
    """A component after a diff (``cachedFindComponent``); ``s`` may borrow another's statics."""
    if cid in cache:
        return cache[cid]
    if not isinstance(diff, dict):
        raise DiffError(f"component {cid} is not an object: {diff!r}")
    shared: t.Any = diff.get("s")
    if _is_number(shared) or (isinstance(shared, str) and re.fullmatch(r"0|[1-9]\d*", shared)):
        number = int(shared)
        if number > 0:
            base = _component(str(number), new.get(str(number)), old, new, cache)
        else:
            found = old.get(str(-number))
            if not isinstance(found, dict):
                raise DiffError(f"component {cid} shares statics with missing component {-number}")
            base = found
        merged = _clone_merge(base, diff)
        merged["s"] = base["s"]
    elif "s" in diff or cid not in old:
        merged = diff
    else:
        merged = _clone_merge(old[cid], diff)
    cache[cid] = merged
    return merged


def _clone_merge(target: Tree, source: Tree) -> Tree:
    """The client's ``cloneMerge``: ``source`` over a copy of ``target``, for components."""
    if _truthy(source.get("k")):
        merged: Tree = _clone(target)
        _merge_keyed(merged, source)
        return merged
    merged = {**target, **source}
    for key in merged:
        value, before = source.get(key, _MISSING), target.get(key, _MISSING)
        if isinstance(value, dict) and "s" not in value and isinstance(before, dict):
            merged[key] = _clone_merge(before, value)
        elif value is _MISSING and isinstance(before, dict):
            merged[key] = _clone_merge(before, {})
    return merged


# -- HTML ----------------------------------------------------------------------


def _normalize(text: str) -> str:
    return " ".join(text.split())


def _text_matches(node: LexborNode, text: Text) -> bool:
    if text is None:
        return True
    content = _normalize(node.text(deep=True))
    return bool(text.search(content)) if isinstance(text, re.Pattern) else text in content


def _snippet(html: str | None) -> str:
    html = html or ""
    return html if len(html) <= SNIPPET else html[:SNIPPET] + " …"


def _describe(selector: str, text: Text) -> str:
    if text is None:
        return repr(selector)
    shown = text.pattern if isinstance(text, re.Pattern) else text
    return f"{selector!r} with text {shown!r}"


def _split_selector(selector: str) -> list[str]:
    """The compound selectors of ``selector`` with their combinators, for "nearest" hints."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(selector):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif depth == 0 and char in " >+~" and i > start:
            parts.append(selector[start:i])
            start = i
    parts.append(selector[start:])
    return [part for part in parts if part.strip(" >+~")]


# -- forms ---------------------------------------------------------------------

_CONTROLS = ("input", "select", "textarea", "button")
_BUTTON_TYPES = ("submit", "reset", "button", "image")
_TEXT_TYPES = ("text", "search", "tel", "password", "url", "email")
_INPUT_TYPES = frozenset(
    "hidden text search tel url email password date month week time datetime-local number range "
    "color checkbox radio file submit image reset button".split()
)
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")


def _form_encode(text: str) -> str:
    """``URLSearchParams`` encoding: like ``quote_plus``, but ``*`` kept and ``~`` escaped."""
    return quote_plus(text, safe="*").replace("~", "%7E")


def _unused_key(name: str) -> str:
    """The client's ``prependFormDataKey``: ``user[name]`` → ``user[_unused_name]``."""
    array = name.endswith("[]")
    base = name[:-2] if array else name
    base = re.sub(r"([^\[\]]+)(\]?$)", r"_unused_\1\2", base, count=1)
    return base + "[]" if array else base


def _field_text(value: t.Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _flatten(fields: Mapping[str, t.Any], prefix: str = "") -> Iterator[tuple[str, t.Any]]:
    """``{"user": {"name": "x"}}`` → ``("user[name]", "x")``: the form's bracketed names."""
    for key, value in fields.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from _flatten(value, name)
        else:
            yield name, value


@dataclass
class _Option:
    value: str
    selected: bool
    disabled: bool


@dataclass
class _Control:
    """A form control as the browser holds it: kind (the DOM ``type``), name and state."""

    node: LexborNode
    kind: str
    name: str
    disabled: bool
    value: str = ""
    checked: bool = False
    options: list[_Option] = field(default_factory=list)

    @property
    def is_button(self) -> bool:
        return self.node.tag == "button" or self.kind in _BUTTON_TYPES


def _attr(node: LexborNode, name: str) -> str | None:
    """An attribute's value; a present attribute without a value is ``""``."""
    attributes = node.attributes
    if name not in attributes:
        return None
    return attributes[name] or ""


def _children(node: LexborNode) -> Iterator[LexborNode]:
    return iter(node.iter(include_text=False))


def _is_disabled(node: LexborNode, container: LexborNode) -> bool:
    """Disabled itself, or inside a disabled fieldset but not in its first legend."""
    if _attr(node, "disabled") is not None:
        return True
    child, parent = node, node.parent
    while parent is not None and parent.mem_id != container.mem_id:
        if parent.tag == "fieldset" and _attr(parent, "disabled") is not None:
            legend = next((item for item in _children(parent) if item.tag == "legend"), None)
            if legend is None or legend.mem_id != child.mem_id:
                return True
        child, parent = parent, parent.parent
    return False


def _control(node: LexborNode, container: LexborNode) -> _Control:
    tag = node.tag or ""
    name = _attr(node, "name") or ""
    disabled = _is_disabled(node, container)
    if tag == "select":
        multiple = _attr(node, "multiple") is not None
        control = _Control(node, "select-multiple" if multiple else "select-one", name, disabled)
        for item in node.css("option"):
            parent = item.parent
            off = _attr(item, "disabled") is not None or (
                parent is not None
                and parent.tag == "optgroup"
                and _attr(parent, "disabled") is not None
            )
            value = _attr(item, "value")
            text = _normalize(item.text(deep=True)) if value is None else value
            control.options.append(_Option(text, _attr(item, "selected") is not None, off))
        size = _attr(node, "size") or ""
        if not multiple and not (size.isdigit() and int(size) > 1):
            chosen = [option for option in control.options if option.selected]
            for option in chosen[:-1]:
                option.selected = False
            if not chosen:
                first = next((option for option in control.options if not option.disabled), None)
                if first is not None:
                    first.selected = True
        return control
    if tag == "textarea":
        return _Control(node, "textarea", name, disabled, node.text(deep=True))
    if tag == "button":
        kind = (_attr(node, "type") or "submit").lower()
        return _Control(
            node,
            kind if kind in ("reset", "button") else "submit",
            name,
            disabled,
            _attr(node, "value") or "",
        )
    kind = (_attr(node, "type") or "text").lower()
    kind = kind if kind in _INPUT_TYPES else "text"
    value = _attr(node, "value")
    if kind in ("checkbox", "radio"):
        return _Control(
            node,
            kind,
            name,
            disabled,
            "on" if value is None else value,
            _attr(node, "checked") is not None,
        )
    return _Control(node, kind, name, disabled, value or "")


def _form_owner(node: LexborNode, container: LexborNode) -> LexborNode | None:
    """The form a control belongs to: its ``form`` attribute's form, else its nearest form."""
    form_id = _attr(node, "form")
    if form_id is not None:
        found = [item for item in container.css("form") if _attr(item, "id") == form_id]
        return found[0] if found else None
    parent = node.parent
    while parent is not None and parent.mem_id != container.mem_id:
        if parent.tag == "form":
            return parent
        parent = parent.parent
    return None


class _Form:
    """A form's controls, in tree order; ``fill`` types into them, ``serialize`` is the client's."""

    def __init__(self, form: LexborNode, container: LexborNode, label: str) -> None:
        self.node = form
        self.label = label
        self.controls = [
            _control(node, container)
            for node in container.traverse()
            if node.tag in _CONTROLS
            and (owner := _form_owner(node, container)) is not None
            and owner.mem_id == form.mem_id
        ]

    @property
    def names(self) -> list[str]:
        return list(
            dict.fromkeys(
                control.name for control in self.controls if control.name and not control.is_button
            )
        )

    def fill(self, fields: Mapping[str, t.Any]) -> list[str]:
        """Set fields as a user would; returns the names set. Refuses what a user could not do."""
        names = []
        for name, value in _flatten(fields):
            if (
                name not in self.names
                and isinstance(value, list | tuple)
                and f"{name}[]" in self.names
            ):
                name = f"{name}[]"
            self._set(name, value)
            names.append(name)
        return names

    def _set(self, name: str, value: t.Any) -> None:
        controls = [
            control for control in self.controls if control.name == name and not control.is_button
        ]
        if not controls:
            raise LiveTestError(
                f"form {self.label} has no field named {name!r}; its fields: {self.names}"
            )
        enabled = [control for control in controls if not control.disabled]
        if not enabled:
            raise LiveTestError(
                f"field {name!r} of form {self.label} is disabled: a user cannot change it"
            )
        editable = [control for control in enabled if control.kind != "hidden"] or enabled
        kinds = {control.kind for control in editable}
        values = (
            [_field_text(item) for item in value]
            if isinstance(value, list | tuple)
            else [_field_text(value)]
        )
        if len(kinds) > 1:
            raise LiveTestError(
                f"field {name!r} of form {self.label} mixes input types {sorted(kinds)}"
            )
        kind = kinds.pop()
        if kind == "file":
            raise LiveTestError(
                f"field {name!r} is a file input: uploads are not supported by the test client yet"
            )
        if kind == "checkbox":
            if isinstance(value, bool):
                for control in editable:
                    control.checked = value
                return
            self._choose(name, editable, values, lambda control: control.value)
            for control in editable:
                control.checked = control.value in values
        elif kind == "radio":
            if len(values) != 1:
                raise LiveTestError(f"radio buttons {name!r} take one value, got {values}")
            self._choose(name, editable, values, lambda control: control.value)
            for control in [
                item for item in self.controls if item.name == name and item.kind == "radio"
            ]:
                control.checked = control.value == values[0]
        elif kind in ("select-one", "select-multiple"):
            for control in editable:
                options = {option.value: option for option in control.options}
                missing = [item for item in values if item not in options or options[item].disabled]
                if missing or (kind == "select-one" and len(values) != 1):
                    choices = [option.value for option in control.options if not option.disabled]
                    raise LiveTestError(
                        f"select {name!r} cannot take {values}: its options are {choices}"
                    )
                for option in control.options:
                    option.selected = option.value in values
        else:
            if len(values) > len(editable):
                raise LiveTestError(
                    f"{len(values)} values for {len(editable)} field(s) named {name!r}"
                )
            for control, text in zip(editable, values, strict=False):
                control.value = self._sanitize(control, text)

    def _choose(
        self,
        name: str,
        controls: list[_Control],
        values: list[str],
        value_of: t.Callable[[_Control], str],
    ) -> None:
        offered = [value_of(control) for control in controls]
        missing = [item for item in values if item not in offered]
        if missing:
            raise LiveTestError(
                f"{controls[0].kind} {name!r} of form {self.label} has no value {missing}; "
                f"its values: {offered}"
            )

    @staticmethod
    def _sanitize(control: _Control, text: str) -> str:
        """What the input holds after a user typed ``text``; refuse what it cannot hold."""
        if control.kind == "number" and text and not _NUMBER.fullmatch(text):
            raise LiveTestError(f"a browser cannot put {text!r} in number input {control.name!r}")
        if control.kind in _TEXT_TYPES:
            text = text.replace("\r", "").replace("\n", "")
        return text.strip() if control.kind in ("url", "email") else text

    def entries(self, submitter: _Control | None) -> list[tuple[str, str]]:
        """The form data set (``new FormData(form)`` plus the submitter), files left out."""
        out: list[tuple[str, str]] = []
        files = set()
        for control in self.controls:
            if control.disabled or not control.name:
                continue
            if control.is_button:
                if control is submitter and control.kind != "image":
                    out.append((control.name, control.value))
            elif control.kind in ("checkbox", "radio"):
                if control.checked:
                    out.append((control.name, control.value))
            elif control.kind == "file":
                files.add(control.name)
            elif control.kind.startswith("select"):
                out += [
                    (control.name, option.value)
                    for option in control.options
                    if option.selected and not option.disabled
                ]
            elif control.kind == "hidden" and control.name == "_charset_":
                out.append((control.name, "UTF-8"))
            else:
                out.append((control.name, control.value))
        return [(name, value) for name, value in out if name not in files]

    def serialize(
        self, used: set[str], only: list[str] | None = None, submitter: _Control | None = None
    ) -> str:
        """The client's ``serializeForm``: urlencoded, ``_unused_`` keys for untouched fields."""
        unused: dict[str, bool] = {}
        hidden: dict[str, bool] = {}
        for control in self.controls:
            if control.name:
                touched = (
                    control.name in used or _attr(control.node, "phx-no-unused-field") is not None
                )
                unused[control.name] = unused.get(control.name, True) and not touched
                hidden[control.name] = hidden.get(control.name, True) and control.kind == "hidden"
        skip = _attr(self.node, "phx-no-unused-field") is not None
        params: list[tuple[str, str]] = []
        for name, value in self.entries(submitter):
            if only and name not in only:
                continue
            if (
                not skip
                and unused.get(name)
                and not (submitter and submitter.name == name)
                and not hidden.get(name)
            ):
                params.append((_unused_key(name), ""))
            params.append((name, value))
        return "&".join(f"{_form_encode(name)}={_form_encode(value)}" for name, value in params)


def _element_value(node: LexborNode) -> t.Any:
    """``el.value`` for the elements that have one (the client adds it to click values)."""
    tag, value = node.tag, _attr(node, "value")
    if tag in ("button", "data", "param"):
        return value or ""
    if tag == "input":
        kind = (_attr(node, "type") or "text").lower()
        return ("on" if value is None else value) if kind in ("checkbox", "radio") else value or ""
    if tag == "option":
        return _normalize(node.text(deep=True)) if value is None else value
    if tag in ("textarea", "output"):
        return node.text(deep=True)
    if tag == "select":
        selected = [option for option in _control(node, node).options if option.selected]
        return selected[0].value if selected else ""
    if tag == "li":
        return int(value) if value and re.fullmatch(r"\s*[-+]?\d+\s*", value) else 0
    if tag in ("meter", "progress"):
        try:
            return float(value) if value else 0
        except ValueError:
            return 0
    return _MISSING


# -- ASGI, in-process ----------------------------------------------------------


@asynccontextmanager
async def run_lifespan(app: ASGIApp) -> AsyncIterator[dict[str, t.Any]]:
    """Run the app's startup and shutdown (the ASGI lifespan), as a server does around requests.

    Yields the lifespan state; ``live(..., lifespan=False)`` inside it shares
    one startup between several views.
    """
    state: dict[str, t.Any] = {}
    inbox: asyncio.Queue[Message] = asyncio.Queue()
    outbox: asyncio.Queue[Message] = asyncio.Queue()

    async def send(message: Message) -> None:
        outbox.put_nowait(message)

    scope: Scope = {
        "type": "lifespan",
        "asgi": {"version": "3.0", "spec_version": "2.0"},
        "state": state,
    }

    async def run() -> None:
        await app(scope, inbox.get, send)

    task = asyncio.create_task(run())

    async def step(message: str) -> None:
        inbox.put_nowait({"type": f"lifespan.{message}"})
        answer = asyncio.ensure_future(outbox.get())
        await asyncio.wait({answer, task}, return_when=asyncio.FIRST_COMPLETED)
        if not answer.done():
            answer.cancel()
            task.result()  # re-raise what stopped the app
            raise LiveTestError(f"the app ended its lifespan without answering lifespan.{message}")
        reply = answer.result()
        if reply["type"].endswith(".failed"):
            raise LiveTestError(f"the app's lifespan {message} failed: {reply.get('message', '')}")

    await step("startup")
    try:
        yield state
    finally:
        await step("shutdown")
        await task


def _with_state(app: ASGIApp, state: Mapping[str, t.Any]) -> ASGIApp:
    """Give each request a copy of the lifespan state, as servers do (``request.state``)."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = {**scope, "state": dict(state)}
        await app(scope, receive, send)

    return wrapped


class _WebSocket:
    """An ASGI WebSocket connection to the app, driven from the test through queues."""

    def __init__(self, app: ASGIApp, scope: Scope) -> None:
        self._app = app
        self._scope = scope
        self._inbox: asyncio.Queue[Message] = asyncio.Queue()
        self._outbox: asyncio.Queue[Message | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.closed: Message | None = None

    async def connect(self, timeout: float) -> None:
        self._task = asyncio.create_task(self._run())
        self._inbox.put_nowait({"type": "websocket.connect"})
        message = await self.receive(timeout)
        if message["type"] != "websocket.accept":
            raise LiveTestError(
                f"the app did not accept the WebSocket at {self._scope['path']}: {message}"
            )

    async def _run(self) -> None:
        try:
            await self._app(self._scope, self._inbox.get, self._send)
        finally:
            self._outbox.put_nowait(None)

    async def _send(self, message: Message) -> None:
        self._outbox.put_nowait(message)

    def send_text(self, text: str) -> None:
        if self.closed is not None:
            raise LiveTestError(f"the server closed the WebSocket: {self.closed}")
        self._inbox.put_nowait({"type": "websocket.receive", "text": text})

    def next_nowait(self) -> Message | None:
        """A message that already arrived, if any (an ended handler is left for ``receive``)."""
        if self.closed is not None or self._outbox.empty():
            return None
        message = self._outbox.get_nowait()
        if message is None:
            self._outbox.put_nowait(None)
        return message

    async def receive(self, timeout: float) -> Message:
        """The app's next message; raises ``TimeoutError``, or ``LiveTestError`` once it stopped."""
        if self.closed is not None:
            raise LiveTestError(f"the server closed the WebSocket: {self.closed}")
        message = await asyncio.wait_for(self._outbox.get(), timeout)
        if message is None:
            assert self._task is not None
            error = self._task.exception()
            self.closed = {
                "type": "websocket.close",
                "reason": "the app's WebSocket handler returned",
            }
            if error is not None:
                raise LiveTestError(f"the app's WebSocket handler crashed: {error!r}") from error
            raise LiveTestError("the app's WebSocket handler returned: the connection is gone")
        if message["type"] == "websocket.close":
            self.closed = message
        return message

    async def close(self, timeout: float) -> None:
        """Disconnect as a browser tab closing would; the app runs its ``disconnect`` callbacks."""
        task = self._task
        if task is None or task.done():
            if task is not None and not task.cancelled():
                task.exception()  # already reported by receive(), if anyone was reading
            return
        self._inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        try:
            await asyncio.wait_for(task, timeout)
        except TimeoutError:
            raise LiveTestError(
                f"the app's WebSocket handler did not finish within {timeout} s of the disconnect"
            ) from None


# -- the view ------------------------------------------------------------------


class LiveViewTest:
    """A LiveView as the browser holds it: the page, the socket and the merged tree.

    Made by ``live()``. Queries (``html``, ``find``, ``element``, ``has``,
    ``text``) read the current HTML; actions (``click``, ``change``,
    ``submit``, ``keydown``, ``patch``…) send what the official client sends and
    merge the reply. Actions return ``None``, or the ``Redirect`` when the view
    navigated away; the view is then unusable until ``follow_redirect()``.
    """

    def __init__(
        self,
        app: ASGIApp,
        http: httpx.AsyncClient,
        *,
        timeout: float,
        connect_params: Mapping[str, t.Any],
        socket_path: str = SOCKET_PATH,
    ) -> None:
        self._app = app
        self._http = http
        self._timeout = timeout
        self._connect_params = dict(connect_params)
        self._socket_path = socket_path
        self._socket: _WebSocket | None = None
        self._ref = 0
        self._topic = ""
        self._join_ref: str | None = None
        self._joins = 0
        self._joined = False
        self._crashed = False
        self._session = ""
        self._static: str | None = None
        self._csrf: str | None = None
        self._track_static: list[str] = []
        self._title_attrs: dict[str, str | None] = {}
        self._rendered = Rendered()
        self._used: dict[str, set[str]] = {}
        self._parsed: tuple[str, LexborHTMLParser, LexborNode] | None = None
        self.url = ""
        self.title: str | None = None
        self.dead_html = ""
        self.redirect: Redirect | None = None
        self.pushed_events: list[PushedEvent] = []

    @property
    def path(self) -> str:
        """The URL's path and query, e.g. ``"/counter?count=0"``."""
        parts = urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    # -- reading -----------------------------------------------------------

    def html(self) -> str:
        """The container's current HTML (its ``innerHTML``), as the client rendered it."""
        self._check_here()
        return self._rendered.html

    def find(self, selector: str) -> list[LexborNode]:
        """Every element matching a CSS selector, in document order (selectolax nodes)."""
        root = self._root()
        try:
            matches = root.css(selector)
        except SelectolaxError as error:
            raise LiveTestError(f"invalid CSS selector {selector!r}: {error}") from None
        return [node for node in matches if node.mem_id != root.mem_id]

    def element(self, selector: str, *, text: Text = None) -> LexborNode:
        """The one element matching ``selector`` (and containing ``text``); fails otherwise."""
        matches = [node for node in self.find(selector) if _text_matches(node, text)]
        if len(matches) == 1:
            return matches[0]
        if not matches:
            raise LiveTestError(
                f"no element matches {_describe(selector, text)} in {self.path}.\n"
                + self._nearest(selector, text)
            )
        shown = "\n".join(_snippet(node.html) for node in matches[:3])
        raise LiveTestError(
            f"{_describe(selector, text)} matches {len(matches)} elements; a browser acts on one: "
            f"narrow the selector (an id, or text=...):\n{shown}"
        )

    def has(self, selector: str, *, text: Text = None) -> bool:
        """True when some element matches ``selector`` (and contains ``text``)."""
        return any(_text_matches(node, text) for node in self.find(selector))

    def assert_has(self, selector: str, *, text: Text = None, count: int | None = None) -> None:
        """Fail, showing the nearest HTML, unless ``selector`` matches (``count`` times)."""
        found = sum(1 for node in self.find(selector) if _text_matches(node, text))
        if (count is None and found) or found == count:
            return
        wanted = "at least one" if count is None else str(count)
        raise LiveTestError(
            f"expected {wanted} element(s) matching {_describe(selector, text)}, found {found}.\n"
            + self._nearest(selector, text)
        )

    def text(self, selector: str) -> str:
        """The whitespace-normalized text of the one element matching ``selector``."""
        return _normalize(self.element(selector).text(deep=True))

    # -- acting ------------------------------------------------------------

    async def click(self, selector: str, *, text: Text = None) -> Redirect | None:
        """Click an element: its (or its nearest ancestor's) ``phx-click``, or the link it is in."""
        await self._ready()
        element = self.element(selector, text=text)
        link = self._closest(element, lambda node: _attr(node, "data-phx-link") is not None)
        if link is not None:
            return await self._follow_link(link)
        target = self._closest(element, lambda node: bool(_attr(node, "phx-click")))
        binding = _attr(target, "phx-click") if target is not None else None
        if target is None or not binding:
            anchor = self._closest(
                element, lambda node: node.tag == "a" and _attr(node, "href") is not None
            )
            href = _attr(anchor, "href") if anchor is not None else None
            if href and not href.startswith("#"):
                return self._navigated(Redirect(href, "redirect"))
            raise LiveTestError(
                f"clicking {_describe(selector, text)} does nothing: neither it nor an ancestor "
                f"has phx-click and it is not in a link.\n{_snippet(element.html)}"
            )
        return await self._exec(target, "click", binding)

    async def change(
        self,
        selector: str,
        fields: Mapping[str, t.Any] | None = None,
        *,
        text: Text = None,
        target: str | None = None,
    ) -> Redirect | None:
        """Type ``fields`` into a form (or one of its fields) and send its ``phx-change``.

        ``fields`` uses the form's names, flat (``{"user[name]": "x"}``) or
        nested (``{"user": {"name": "x"}}``); lists fill ``name[]`` fields,
        checkboxes take ``True``/``False`` or their values. ``_target`` is the
        field given by ``selector``, else ``target``, else the last field set.
        """
        await self._ready()
        element = self.element(selector, text=text)
        form_node, control_node = self._form_and_control(element, selector)
        form = self._form(form_node, selector)
        control = next(
            (
                item
                for item in form.controls
                if control_node is not None and item.node.mem_id == control_node.mem_id
            ),
            None,
        )
        own = _attr(control.node, "phx-change") if control is not None else None
        binding_node = control.node if control is not None and own else form_node
        binding = own or _attr(form_node, "phx-change")
        if not binding:
            raise LiveTestError(
                f"{selector!r}: the form has no phx-change, so a browser sends nothing on change."
                f"\n{_snippet(form_node.html)}"
            )
        names = form.fill(fields or {})
        if target is not None and target not in form.names:
            raise LiveTestError(
                f"target {target!r} is not a field of form {form.label}; its fields: {form.names}"
            )
        name = control.name if control is not None else target or (names[-1] if names else None)
        used = self._used.setdefault(form.label, set())
        used.update(names)
        if name:
            used.add(name)
        only = [control.name] if control is not None and own else None
        return await self._exec(binding_node, "change", binding, form=form, target=name, only=only)

    async def submit(
        self,
        selector: str,
        fields: Mapping[str, t.Any] | None = None,
        *,
        text: Text = None,
        submitter: str | None = None,
    ) -> Redirect | None:
        """Fill ``fields`` and submit the form's ``phx-submit``.

        ``selector`` names the form or its submit button; ``submitter`` (a CSS
        selector) names the button that was pressed, whose name and value are
        sent as the browser does.
        """
        await self._ready()
        form_node, control_node = self._form_and_control(
            self.element(selector, text=text), selector
        )
        form = self._form(form_node, selector)
        button = self.element(submitter) if submitter is not None else control_node
        pressed = None
        if button is not None:
            pressed = next(
                (item for item in form.controls if item.node.mem_id == button.mem_id), None
            )
            if pressed is None or (submitter is not None and not pressed.is_button):
                raise LiveTestError(f"{_snippet(button.html)} is not a button of form {form.label}")
            if pressed.is_button and pressed.kind not in ("submit", "image"):
                raise LiveTestError(
                    f"{_snippet(button.html)} does not submit its form (type={pressed.kind})"
                )
            if not pressed.is_button:
                pressed = None  # Enter in a field: no submitter
        binding = _attr(form_node, "phx-submit")
        if not binding:
            raise LiveTestError(
                f"{selector!r}: the form has no phx-submit; a browser would submit it over HTTP "
                f"(a page load).\n{_snippet(form_node.html)}"
            )
        form.fill(fields or {})
        used = self._used.setdefault(form.label, set())
        used.update(form.names)  # submitting marks every field as used
        return await self._exec(form_node, "submit", binding, form=form, submitter=pressed)

    async def keydown(self, selector: str | None, key: str) -> Redirect | None:
        """Press ``key`` on an element (``phx-keydown``) or the window (``phx-window-keydown``)."""
        return await self._key("keydown", selector, key)

    async def keyup(self, selector: str | None, key: str) -> Redirect | None:
        """Release ``key`` on an element (``phx-keyup``) or the window (``phx-window-keyup``)."""
        return await self._key("keyup", selector, key)

    async def focus(self, selector: str) -> Redirect | None:
        """Focus an element with ``phx-focus``."""
        return await self._focus("focus", selector)

    async def blur(self, selector: str) -> Redirect | None:
        """Blur an element with ``phx-blur``."""
        return await self._focus("blur", selector)

    async def hook(self, event: str, value: t.Any = None) -> t.Any:
        """Push an event as a JS hook's ``pushEvent`` does; returns the hook reply, if any."""
        await self._ready()
        return await self._event(
            {"type": "hook", "event": event, "value": {} if value is None else value}
        )

    async def patch(self, url: str) -> Redirect | None:
        """Change the URL as a ``patch`` link does: ``handle_params`` runs, ``mount`` does not."""
        await self._ready()
        return await self._patch(url)

    async def wait_for(
        self, selector: str, *, text: Text = None, timeout: float = 1.0
    ) -> LexborNode:
        """Apply server pushes (``handle_info``, pub/sub) until ``selector`` matches; returns it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            self._drain()
            self._check_here()
            matches = [node for node in self.find(selector) if _text_matches(node, text)]
            if matches:
                return matches[0]
            remaining = deadline - loop.time()
            try:
                if remaining <= 0:
                    raise TimeoutError
                self._dispatch(await self._live_socket().receive(remaining))
            except TimeoutError:
                raise LiveTestError(
                    f"nothing matched {_describe(selector, text)} within {timeout} s.\n"
                    + self._nearest(selector, text)
                ) from None

    async def follow_redirect(self) -> LiveViewTest:
        """Go where ``redirect`` points, as the browser would; returns this (now the next) view."""
        redirect = self.redirect
        if redirect is None:
            raise LiveTestError("there is no redirect to follow: the view did not navigate away")
        self.redirect = None
        url = urljoin(self.url, redirect.to)
        if (
            redirect.kind == "live_redirect"
            and self._socket is not None
            and self._socket.closed is None
        ):
            await self._navigate(url, redirect.flash)
        else:
            if redirect.flash:
                self._http.cookies.set("__phoenix_flash__", redirect.flash)
            await self._load(url)
        return self

    async def close(self) -> None:
        """Close the socket, as closing the tab does (the server runs ``disconnect``)."""
        if self._socket is not None:
            socket, self._socket = self._socket, None
            await socket.close(self._timeout)

    # -- page loads and joins ------------------------------------------------

    async def _load(self, url: str) -> None:
        """A full page load: the HTTP render, then a join over a new socket."""
        await self.close()
        self._rendered, self._parsed, self._used = Rendered(), None, {}
        response = await self._http.get(url, headers={"accept": "text/html"})
        self.url = str(response.url)
        if response.is_redirect:
            self._navigated(Redirect(response.headers["location"], "redirect"))
            return
        if response.status_code != 200:
            raise HTTPError(url, response.status_code, response.text)
        self.dead_html = response.text
        page = LexborHTMLParser(response.text)
        container = page.css_first("[data-phx-main]") or next(
            (
                node
                for node in page.css("[data-phx-session]")
                if _attr(node, "data-phx-parent-id") is None
            ),
            None,
        )
        if container is None or not _attr(container, "id"):
            raise LiveTestError(
                f"GET {url} rendered no LiveView container ([data-phx-session]):\n"
                + _snippet(response.text)
            )
        self._topic = f"lv:{_attr(container, 'id')}"
        self._session = _attr(container, "data-phx-session") or ""
        self._static = _attr(container, "data-phx-static") or None
        meta = page.css_first("meta[name='csrf-token']")
        self._csrf = _attr(meta, "content") if meta is not None else None
        tracked = page.css("[phx-track-static]")
        self._track_static = [
            urljoin(self.url, _attr(node, "src") or _attr(node, "href") or "") for node in tracked
        ]
        title = page.css_first("title")
        self._title_attrs = (
            {key: _attr(title, f"data-{key}") for key in ("prefix", "suffix", "default")}
            if title
            else {}
        )
        self.title = _normalize(title.text(deep=True)) if title is not None else None
        self._joins = 0
        await self._connect()
        await self._join({"url": self.url}, referer=None, flash=None, navigation=False)

    async def _connect(self) -> None:
        params = {
            **self._socket_params(),
            "_mounts": 0,
            "_mount_attempts": 0,
            "_live_referer": "undefined",
            "vsn": "2.0.0",
        }
        cookies = "; ".join(f"{cookie.name}={cookie.value}" for cookie in self._http.cookies.jar)
        host = urlsplit(self.url).netloc or "testserver"
        scope: Scope = {
            "type": "websocket",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "scheme": "ws",
            "server": (host.split(":")[0], 80),
            "client": ("127.0.0.1", 50000),
            "root_path": "",
            "path": self._socket_path,
            "raw_path": self._socket_path.encode(),
            "query_string": urlencode(params).encode(),
            "headers": [
                (b"host", host.encode()),
                (b"origin", f"http://{host}".encode()),
                (b"cookie", cookies.encode()),
                (b"user-agent", b"live-testing"),
            ],
            "subprotocols": [],
        }
        self._socket = _WebSocket(self._app, scope)
        self._ref = 0
        await self._socket.connect(self._timeout)

    def _socket_params(self) -> dict[str, t.Any]:
        """The ``params`` app.js gives ``LiveSocket``: the CSRF token and the caller's own."""
        return {"_csrf_token": self._csrf, **self._connect_params}

    async def _join(
        self, location: dict[str, str], *, referer: str | None, flash: str | None, navigation: bool
    ) -> None:
        params = self._socket_params()
        if self._track_static:
            params["_track_static"] = self._track_static
        params.update(_mounts=self._joins, _mount_attempts=0)
        if referer is not None:
            params["_live_referer"] = referer
        payload: dict[str, t.Any] = {
            **location,
            "params": params,
            "session": self._session,
            "static": self._static,
        }
        if flash:
            payload["flash"] = flash
        payload["sticky"] = False
        self._join_ref = None
        status, response = await self._request("phx_join", payload, join=True)
        if status == "ok":
            rendered = response.get("rendered")
            if not isinstance(rendered, dict):
                raise DiffError(f"the join reply has no rendered tree: {response}")
            extracted = Rendered.extract(rendered)
            self._rendered = Rendered(extracted.diff)
            self._joins += 1
            self._joined, self._crashed = True, False
            self._took(extracted, mount=True)
            if response.get("live_patch"):
                self.url = urljoin(self.url, response["live_patch"]["to"])
            return
        self._events(response.get("events") or [])
        if response.get("redirect") or response.get("live_redirect"):
            self._leave()  # a no-op: the channel never joined
            if response.get("redirect"):
                self._navigated(self._redirect(response["redirect"], "redirect"))
            else:
                self._navigated(self._redirect(response["live_redirect"], "live_redirect"))
        elif navigation and response.get("reason") in ("unauthorized", "stale"):
            await self._load(self.url)  # not a LiveView here: the client falls back to a page load
        else:
            raise ServerError(f"joining {self.path}", response)

    async def _navigate(self, url: str, flash: str | None) -> None:
        """Live navigation: leave the channel, join the same topic with ``redirect``."""
        referer = self.url
        self._leave()
        self.url = url
        self._joins = 0
        self._rendered, self._parsed, self._used = Rendered(), None, {}
        await self._join({"redirect": url}, referer=referer, flash=flash, navigation=True)

    # -- the channel -------------------------------------------------------

    def _leave(self) -> None:
        """``channel.leave()``: a ``phx_leave`` when joined (the reply is not awaited)."""
        if self._joined:
            self._push("phx_leave", {})
            self._joined = False

    def _live_socket(self) -> _WebSocket:
        if self._socket is None:
            raise LiveTestError("the view is closed")
        return self._socket

    def _push(self, event: str, payload: t.Any, *, join: bool = False) -> str:
        socket = self._live_socket()
        self._ref += 1
        ref = str(self._ref)
        if join:
            self._join_ref = ref
        socket.send_text(
            json.dumps([self._join_ref, ref, self._topic, event, payload], separators=(",", ":"))
        )
        return ref

    async def _request(
        self, event: str, payload: t.Any, *, join: bool = False
    ) -> tuple[str, dict[str, t.Any]]:
        """Push and wait for the reply, applying pushes that arrive meanwhile, in order."""
        ref = self._push(event, payload, join=join)
        socket = self._live_socket()
        while True:
            try:
                message = await socket.receive(self._timeout)
            except TimeoutError:
                raise LiveTestError(
                    f"no reply to {event} within {self._timeout} s (the client would reload)"
                ) from None
            frame = self._decode(message)
            if frame is None:
                continue
            join_ref, reply_ref, topic, kind, body = frame
            if kind == "phx_reply" and reply_ref == ref and topic == self._topic:
                self._drain()
                return str(body.get("status")), dict(body.get("response") or {})
            self._dispatch(message)

    @staticmethod
    def _decode(message: Message) -> list[t.Any] | None:
        if message["type"] != "websocket.send":
            return None
        text = message.get("text")
        if text is None:
            raise DiffError("the server sent a binary frame; LiveView pushes are JSON text")
        frame = json.loads(text)
        if not isinstance(frame, list) or len(frame) != 5:
            raise DiffError(f"not a [join_ref, ref, topic, event, payload] frame: {text}")
        return frame

    def _drain(self) -> None:
        """Apply the pushes that already arrived."""
        while self._socket is not None and (message := self._socket.next_nowait()) is not None:
            self._dispatch(message)

    def _dispatch(self, message: Message) -> None:
        """A push from the server (replies to older pushes are dropped, as the client does)."""
        frame = self._decode(message)
        if frame is None:
            return
        join_ref, _, topic, event, payload = frame
        if (
            topic != self._topic
            or (join_ref is not None and join_ref != self._join_ref)
            or self.redirect
        ):
            return
        if event == "diff":
            self._apply(payload)
        elif event == "live_patch":
            self.url = urljoin(self.url, payload["to"])
        elif event == "live_redirect":
            self._navigated(self._redirect(payload, "live_redirect"))
        elif event == "redirect":
            self._navigated(self._redirect(payload, "redirect"))
        elif event == "phx_error":
            self._joined, self._crashed = (
                False,
                True,
            )  # the client shows its error state, then rejoins

    async def _ready(self) -> None:
        """Before an action: apply what arrived, refuse if the view left, rejoin after a crash."""
        self._drain()
        self._check_here()
        if self._crashed:
            self._crashed = False
            await self._join({"url": self.url}, referer=None, flash=None, navigation=False)

    def _check_here(self) -> None:
        if self.redirect is not None:
            raise LiveTestError(
                f"the view navigated away to {self.redirect.to!r} ({self.redirect.kind}); "
                "assert on view.redirect, or `await view.follow_redirect()`"
            )
        if self._socket is None:
            raise LiveTestError("the view is closed")

    # -- replies -------------------------------------------------------------

    async def _event(self, payload: dict[str, t.Any]) -> t.Any:
        status, response = await self._request("event", payload)
        if status != "ok":
            if response.get("reason") == "crash":
                await self._await_crash()
            raise ServerError(f"{payload['type']} event {payload['event']!r}", response)
        return self._reply(response)

    async def _await_crash(self) -> None:
        """After a ``crash`` reply comes ``phx_error``: take it, so the next action rejoins."""
        socket = self._live_socket()
        while not self._crashed:
            try:
                self._dispatch(await socket.receive(self._timeout))
            except TimeoutError:
                return

    def _reply(self, response: dict[str, t.Any]) -> t.Any:
        """An ok reply: the diff first, then navigation, as ``pushWithReply`` does."""
        reply = self._apply(response["diff"]) if response.get("diff") else None
        if response.get("redirect"):
            self._navigated(self._redirect(response["redirect"], "redirect"))
        if response.get("live_patch"):
            self.url = urljoin(self.url, response["live_patch"]["to"])
        if response.get("live_redirect"):
            self._navigated(self._redirect(response["live_redirect"], "live_redirect"))
        return reply

    def _apply(self, diff: t.Any) -> t.Any:
        if not isinstance(diff, dict):
            raise DiffError(f"a diff must be an object: {diff!r}")
        extracted = Rendered.extract(diff)
        self._rendered.merge(extracted.diff)
        self._took(extracted, mount=False)
        return extracted.reply

    def _took(self, extracted: Extracted, *, mount: bool) -> None:
        """The title and events of a merged diff."""
        self._parsed = None
        self._events(extracted.events)
        title = extracted.title
        if isinstance(title, str) or mount:
            prefix, suffix, default = (
                self._title_attrs.get(key) for key in ("prefix", "suffix", "default")
            )
            empty = not isinstance(title, str) or not title.strip()
            if not (empty and default is None):
                self.title = f"{prefix or ''}{default if empty else title}{suffix or ''}"

    def _events(self, events: list[t.Any]) -> None:
        for event in events:
            self.pushed_events.append(PushedEvent(event[0], event[1] if len(event) > 1 else {}))

    @staticmethod
    def _redirect(
        payload: dict[str, t.Any], kind: t.Literal["live_redirect", "redirect"]
    ) -> Redirect:
        return Redirect(payload["to"], kind, payload.get("kind") == "replace", payload.get("flash"))

    def _navigated(self, redirect: Redirect) -> Redirect:
        self.redirect = redirect
        return redirect

    # -- the client's bindings -------------------------------------------------

    async def _exec(
        self, node: LexborNode, kind: str, binding: str, **extra: t.Any
    ) -> Redirect | None:
        """Run a binding: an event name, or JS commands (push, navigate, patch reach the server)."""
        commands: list[t.Any] = [["push", {}]]
        if binding.startswith("["):
            try:
                commands = json.loads(binding)
            except ValueError:
                raise LiveTestError(
                    f"{binding!r} is neither an event name nor JS commands"
                ) from None
        for command, args in commands:
            if self.redirect is not None:
                break
            if command == "push":
                await self._push_command(node, kind, args.get("event") or binding, args, **extra)
            elif command == "navigate":
                self._navigated(Redirect(args["href"], "live_redirect", bool(args.get("replace"))))
            elif command == "patch":
                await self._patch(args["href"])
        return self.redirect

    async def _push_command(
        self,
        node: LexborNode,
        kind: str,
        event: str,
        args: Mapping[str, t.Any],
        *,
        data: Mapping[str, t.Any] | None = None,
        form: _Form | None = None,
        target: str | None = None,
        only: list[str] | None = None,
        submitter: _Control | None = None,
    ) -> None:
        payload: dict[str, t.Any] = {"type": kind, "event": event}
        if form is None:
            payload["value"] = self._meta(node, data, args.get("value"))
        else:
            payload["type"] = "form"
            meta = self._meta(form.node, {}, args.get("value"))
            if kind == "change":
                used = self._used.get(form.label, set())
                payload["value"] = form.serialize(used, only)
                payload["meta"] = {"_target": args.get("_target") or target or "undefined", **meta}
                payload["uploads"] = {}
            else:
                payload["value"] = form.serialize(
                    {control.name for control in form.controls}, None, submitter
                )
                payload["meta"] = meta
        cid = args.get("target") or _attr(form.node if form is not None else node, "phx-target")
        if isinstance(cid, int) or (isinstance(cid, str) and cid.isdigit()):
            payload["cid"] = int(cid)
        await self._event(payload)

    @staticmethod
    def _meta(node: LexborNode, meta: Mapping[str, t.Any] | None, value: t.Any) -> dict[str, t.Any]:
        """The client's ``extractMeta``: ``phx-value-*``, the element's value, then extra values."""
        out = dict(meta or {})
        for name, attribute in node.attributes.items():
            if name.startswith(PHX_VALUE):
                out[name[len(PHX_VALUE) :]] = attribute or ""
        if node.tag != "form":
            element_value = _element_value(node)
            if element_value is not _MISSING:
                out["value"] = element_value
                kind = (_attr(node, "type") or "").lower()
                if (
                    node.tag == "input"
                    and kind in ("checkbox", "radio")
                    and _attr(node, "checked") is None
                ):
                    del out["value"]
        if isinstance(value, Mapping):
            out.update(value)
        return out

    async def _key(self, kind: str, selector: str | None, key: str) -> Redirect | None:
        await self._ready()
        bindings: list[tuple[LexborNode, str]] = []
        if selector is not None:
            element = self.element(selector)
            own = _attr(element, f"phx-{kind}")
            if own:
                bindings.append((element, own))
        if not bindings:
            bindings = [
                (node, _attr(node, f"phx-window-{kind}") or "")
                for node in self.find(f"[phx-window-{kind}]")
            ]
        if not bindings:
            where = (
                f"{selector!r} has no phx-{kind} and" if selector is not None else "in this view"
            )
            raise LiveTestError(
                f"{where} no element has phx-window-{kind}: pressing {key!r} sends nothing"
            )
        for node, binding in bindings:
            wanted = _attr(node, "phx-key")
            if binding and not (wanted and wanted.lower() != key.lower()):
                await self._exec(node, kind, binding, data={"key": key})
        return self.redirect

    async def _focus(self, kind: str, selector: str) -> Redirect | None:
        await self._ready()
        element = self.element(selector)
        binding = _attr(element, f"phx-{kind}")
        if not binding:
            raise LiveTestError(
                f"{selector!r} has no phx-{kind}: a {kind} sends nothing.\n{_snippet(element.html)}"
            )
        return await self._exec(element, kind, binding, data={})

    async def _follow_link(self, link: LexborNode) -> Redirect | None:
        kind, state, href = (
            _attr(link, "data-phx-link"),
            _attr(link, "data-phx-link-state"),
            _attr(link, "href"),
        )
        if kind not in ("patch", "redirect") or state not in ("push", "replace") or not href:
            raise LiveTestError(
                "the client throws on this link (data-phx-link, data-phx-link-state, href):\n"
                + _snippet(link.html)
            )
        if kind == "redirect":
            return self._navigated(Redirect(href, "live_redirect", state == "replace"))
        result = await self._patch(href)
        binding = _attr(link, "phx-click")
        if binding and result is None:
            result = await self._exec(link, "click", binding)
        return result

    async def _patch(self, url: str) -> Redirect | None:
        href = urljoin(self.url, url)
        status, response = await self._request("live_patch", {"url": href})
        if status != "ok":
            await self._load(self.url)  # the client falls back to reloading the current page
            raise ServerError(f"live_patch to {url} (the page was reloaded)", response)
        if response.get("link_redirect"):
            return self._navigated(Redirect(url, "live_redirect"))
        self.url = href
        self._reply(response)
        return self.redirect

    # -- helpers -------------------------------------------------------------

    def _root(self) -> LexborNode:
        """The container, parsed once per render."""
        html = self.html()
        if self._parsed is None or self._parsed[0] is not html:
            parser = LexborHTMLParser(f'<div id="{self._topic[3:]}">{html}</div>')
            body = parser.body
            root = body.child if body is not None else None
            assert root is not None
            self._parsed = (html, parser, root)
        return self._parsed[2]

    def _closest(self, node: LexborNode, test: t.Callable[[LexborNode], bool]) -> LexborNode | None:
        """The nearest of ``node`` and its ancestors, inside the view, that passes ``test``."""
        root = self._root()
        current: LexborNode | None = node
        while current is not None and current.mem_id != root.mem_id:
            if test(current):
                return current
            current = current.parent
        return None

    def _form_and_control(
        self, element: LexborNode, selector: str
    ) -> tuple[LexborNode, LexborNode | None]:
        if element.tag == "form":
            return element, None
        if element.tag in _CONTROLS:
            owner = _form_owner(element, self._root())
            if owner is not None:
                return owner, element
        raise LiveTestError(
            f"{selector!r} is neither a form nor a field in a form:\n{_snippet(element.html)}"
        )

    def _form(self, node: LexborNode, selector: str) -> _Form:
        label = f"#{_attr(node, 'id')}" if _attr(node, "id") else selector
        return _Form(node, self._root(), label)

    def _nearest(self, selector: str, text: Text) -> str:
        """The HTML nearest to what ``selector`` looks for, to show in a failure."""
        root = self._root()
        parts = _split_selector(selector)
        for end in range(len(parts) - 1, 0, -1):
            prefix = "".join(parts[:end]).strip(" >+~")
            try:
                found = [node for node in root.css(prefix) if node.mem_id != root.mem_id]
            except SelectolaxError:
                continue
            if found:
                return f"{prefix!r} matches, but not the rest; its HTML:\n{_snippet(found[0].html)}"
        if text is not None:
            found = [node for node in self.find(selector)]
            if found:
                texts = [_normalize(node.text(deep=True))[:80] for node in found[:5]]
                return f"{selector!r} matches elements with text {texts}"
        return f"the view's HTML:\n{_snippet(self._rendered.html)}"


@asynccontextmanager
async def live(
    app: ASGIApp,
    url: str = "/",
    *,
    lifespan: bool = True,
    client: httpx.AsyncClient | None = None,
    connect_params: Mapping[str, t.Any] | None = None,
    socket_path: str = SOCKET_PATH,
    timeout: float = 5.0,
) -> AsyncIterator[LiveViewTest]:
    """Load ``url`` as a browser would and yield the joined view.

    Runs the app's lifespan around the view unless ``lifespan=False`` (the
    caller runs it, e.g. with ``run_lifespan``). ``client`` is an
    ``httpx.AsyncClient`` on the same app to share cookies with (a logged-in
    session); ``connect_params`` are extra ``LiveSocket`` params and
    ``socket_path`` its endpoint (``LiveRoutes(path=...)`` + ``/websocket``). An
    HTTP redirect, or a redirect from ``mount``, leaves ``view.redirect`` set;
    a reply takes at most ``timeout`` seconds (the client waits 30).
    """
    async with _lifespan(app, lifespan) as state:
        wrapped = _with_state(app, state)
        http = client or httpx.AsyncClient(
            transport=httpx.ASGITransport(app=wrapped), base_url=BASE_URL
        )
        view = LiveViewTest(
            wrapped,
            http,
            timeout=timeout,
            connect_params=connect_params or {},
            socket_path=socket_path,
        )
        try:
            await view._load(urljoin(BASE_URL, url))
            yield view
        finally:
            try:
                await view.close()
            finally:
                if client is None:
                    await http.aclose()


@asynccontextmanager
async def _lifespan(app: ASGIApp, run: bool) -> AsyncIterator[dict[str, t.Any]]:
    if not run:
        yield {}
        return
    async with run_lifespan(app) as state:
        yield state
