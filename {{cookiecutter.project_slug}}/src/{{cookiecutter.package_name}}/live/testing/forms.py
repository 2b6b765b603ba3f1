"""Forms as the browser holds them, filled as a user would and serialized as the client does.

``Form`` reads a form's controls from the HTML (values, checked boxes,
selected options, disabled fields), ``fill`` changes them and refuses what a
user could not do, and ``serialize`` is the client's ``serializeForm``,
``_unused_`` keys included.
"""

from __future__ import annotations

import re
import typing as t
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote_plus

from selectolax.lexbor import LexborNode

from .dom import attr, normalize
from .errors import LiveTestError

CONTROLS = ("input", "select", "textarea", "button")
_BUTTON_TYPES = ("submit", "reset", "button", "image")
_TEXT_TYPES = ("text", "search", "tel", "password", "url", "email")
_INPUT_TYPES = frozenset(
    "hidden text search tel url email password date month week time datetime-local number range "
    "color checkbox radio file submit image reset button".split()
)
_NUMBER = re.compile(r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][-+]?\d+)?")


@dataclass
class Option:
    value: str
    selected: bool
    disabled: bool


@dataclass
class Control:
    """A form control as the browser holds it: kind (the DOM ``type``), name and state."""

    node: LexborNode
    kind: str
    name: str
    disabled: bool
    value: str = ""
    checked: bool = False
    options: list[Option] = field(default_factory=list)

    @property
    def is_button(self) -> bool:
        return self.node.tag == "button" or self.kind in _BUTTON_TYPES


def control(node: LexborNode, container: LexborNode) -> Control:
    """The control ``node`` (an input, select, textarea or button) in its initial state."""
    tag = node.tag or ""
    name = attr(node, "name") or ""
    disabled = _is_disabled(node, container)
    if tag == "select":
        multiple = attr(node, "multiple") is not None
        kind = "select-multiple" if multiple else "select-one"
        return Control(node, kind, name, disabled, options=_options(node, multiple))
    if tag == "textarea":
        return Control(node, "textarea", name, disabled, node.text(deep=True))
    value = attr(node, "value")
    if tag == "button":
        kind = (attr(node, "type") or "submit").lower()
        kind = kind if kind in ("reset", "button") else "submit"
        return Control(node, kind, name, disabled, value or "")
    kind = (attr(node, "type") or "text").lower()
    kind = kind if kind in _INPUT_TYPES else "text"
    if kind in ("checkbox", "radio"):
        checked = attr(node, "checked") is not None
        return Control(node, kind, name, disabled, "on" if value is None else value, checked)
    return Control(node, kind, name, disabled, value or "")


def _options(select: LexborNode, multiple: bool) -> list[Option]:
    """A select's options; a single-choice one always has exactly one selected, if it can."""
    options = []
    for item in select.css("option"):
        parent = item.parent
        disabled = attr(item, "disabled") is not None or (
            parent is not None and parent.tag == "optgroup" and attr(parent, "disabled") is not None
        )
        value = attr(item, "value")
        text = normalize(item.text(deep=True)) if value is None else value
        options.append(Option(text, attr(item, "selected") is not None, disabled))
    size = attr(select, "size") or ""
    if not multiple and not (size.isdigit() and int(size) > 1):
        chosen = [option for option in options if option.selected]
        for option in chosen[:-1]:
            option.selected = False
        if not chosen:
            first = next((option for option in options if not option.disabled), None)
            if first is not None:
                first.selected = True
    return options


def _is_disabled(node: LexborNode, container: LexborNode) -> bool:
    """Disabled itself, or inside a disabled fieldset but not in its first legend."""
    if attr(node, "disabled") is not None:
        return True
    child, parent = node, node.parent
    while parent is not None and parent.mem_id != container.mem_id:
        if parent.tag == "fieldset" and attr(parent, "disabled") is not None:
            legend = next(
                (item for item in parent.iter(include_text=False) if item.tag == "legend"), None
            )
            if legend is None or legend.mem_id != child.mem_id:
                return True
        child, parent = parent, parent.parent
    return False


def form_owner(node: LexborNode, container: LexborNode) -> LexborNode | None:
    """The form a control belongs to: its ``form`` attribute's form, else its nearest form."""
    form_id = attr(node, "form")
    if form_id is not None:
        found = [item for item in container.css("form") if attr(item, "id") == form_id]
        return found[0] if found else None
    parent = node.parent
    while parent is not None and parent.mem_id != container.mem_id:
        if parent.tag == "form":
            return parent
        parent = parent.parent
    return None


def element_value(node: LexborNode) -> str | int | float | None:
    """``el.value`` for the elements that have one (the client adds it to click values)."""
    tag, value = node.tag, attr(node, "value")
    if tag in ("button", "data", "param"):
        return value or ""
    if tag == "input":
        kind = (attr(node, "type") or "text").lower()
        return ("on" if value is None else value) if kind in ("checkbox", "radio") else value or ""
    if tag == "option":
        return normalize(node.text(deep=True)) if value is None else value
    if tag in ("textarea", "output"):
        return node.text(deep=True)
    if tag == "select":
        selected = [option for option in control(node, node).options if option.selected]
        return selected[0].value if selected else ""
    if tag == "li":
        return int(value) if value and re.fullmatch(r"\s*[-+]?\d+\s*", value) else 0
    if tag in ("meter", "progress"):
        try:
            return float(value) if value else 0
        except ValueError:
            return 0
    return None


class Form:
    """A form's controls, in tree order; ``fill`` types into them, ``serialize`` is the client's."""

    def __init__(self, form: LexborNode, container: LexborNode, label: str) -> None:
        self.node = form
        self.label = label
        self.controls = [
            control(node, container)
            for node in container.traverse()
            if node.tag in CONTROLS
            and (owner := form_owner(node, container)) is not None
            and owner.mem_id == form.mem_id
        ]

    @property
    def names(self) -> list[str]:
        """The names a user can fill, once each, in tree order."""
        return list(
            dict.fromkeys(
                control.name for control in self.controls if control.name and not control.is_button
            )
        )

    def control_for(self, node: LexborNode) -> Control | None:
        """The control ``node`` is, if it is one of this form's."""
        return next((item for item in self.controls if item.node.mem_id == node.mem_id), None)

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
        if len(kinds) > 1:
            raise LiveTestError(
                f"field {name!r} of form {self.label} mixes input types {sorted(kinds)}"
            )
        kind = kinds.pop()
        items = value if isinstance(value, list | tuple) else [value]
        values = [_field_text(item) for item in items]
        if kind == "file":
            raise LiveTestError(
                f"field {name!r} is a file input: uploads are not supported by the test client yet"
            )
        if kind == "checkbox":
            if isinstance(value, bool):
                for control in editable:
                    control.checked = value
                return
            self._check_offered(name, editable, values)
            for control in editable:
                control.checked = control.value in values
        elif kind == "radio":
            if len(values) != 1:
                raise LiveTestError(f"radio buttons {name!r} take one value, got {values}")
            self._check_offered(name, editable, values)
            for control in self.controls:
                if control.name == name and control.kind == "radio":
                    control.checked = control.value == values[0]
        elif kind in ("select-one", "select-multiple"):
            for control in editable:
                _select(control, values)
        else:
            if len(values) > len(editable):
                raise LiveTestError(
                    f"{len(values)} values for {len(editable)} field(s) named {name!r}"
                )
            for control, text in zip(editable, values, strict=False):
                control.value = _typed(control, text)

    def _check_offered(self, name: str, controls: list[Control], values: list[str]) -> None:
        """Refuse a value no checkbox or radio button of ``name`` has."""
        offered = [control.value for control in controls]
        missing = [item for item in values if item not in offered]
        if missing:
            raise LiveTestError(
                f"{controls[0].kind} {name!r} of form {self.label} has no value {missing}; "
                f"its values: {offered}"
            )

    def entries(self, submitter: Control | None) -> list[tuple[str, str]]:
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
        self, used: set[str], only: list[str] | None = None, submitter: Control | None = None
    ) -> str:
        """The client's ``serializeForm``: urlencoded, ``_unused_`` keys for untouched fields."""
        unused: dict[str, bool] = {}
        hidden: dict[str, bool] = {}
        for control in self.controls:
            if control.name:
                touched = (
                    control.name in used or attr(control.node, "phx-no-unused-field") is not None
                )
                unused[control.name] = unused.get(control.name, True) and not touched
                hidden[control.name] = hidden.get(control.name, True) and control.kind == "hidden"
        skip = attr(self.node, "phx-no-unused-field") is not None
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


def _select(control: Control, values: list[str]) -> None:
    """Choose ``values`` in a select, refusing options it lacks or has disabled."""
    options = {option.value: option for option in control.options}
    missing = [item for item in values if item not in options or options[item].disabled]
    if missing or (control.kind == "select-one" and len(values) != 1):
        choices = [option.value for option in control.options if not option.disabled]
        raise LiveTestError(
            f"select {control.name!r} cannot take {values}: its options are {choices}"
        )
    for option in control.options:
        option.selected = option.value in values


def _typed(control: Control, text: str) -> str:
    """What the input holds after a user typed ``text``; refuse what it cannot hold."""
    if control.kind == "number" and text and not _NUMBER.fullmatch(text):
        raise LiveTestError(f"a browser cannot put {text!r} in number input {control.name!r}")
    if control.kind in _TEXT_TYPES:
        text = text.replace("\r", "").replace("\n", "")
    return text.strip() if control.kind in ("url", "email") else text


def _flatten(fields: Mapping[str, t.Any], prefix: str = "") -> Iterator[tuple[str, t.Any]]:
    """``{"user": {"name": "x"}}`` → ``("user[name]", "x")``: the form's bracketed names."""
    for key, value in fields.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, Mapping):
            yield from _flatten(value, name)
        else:
            yield name, value


def _field_text(value: t.Any) -> str:
    """A Python value as the text a user would type: ``True`` → ``"true"``, ``None`` → ``""``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _unused_key(name: str) -> str:
    """The client's ``prependFormDataKey``: ``user[name]`` → ``user[_unused_name]``."""
    array = name.endswith("[]")
    base = name[:-2] if array else name
    base = re.sub(r"([^\[\]]+)(\]?$)", r"_unused_\1\2", base, count=1)
    return base + "[]" if array else base


def _form_encode(text: str) -> str:
    """``URLSearchParams`` encoding: like ``quote_plus``, but ``*`` kept and ``~`` escaped."""
    return quote_plus(text, safe="*").replace("~", "%7E")
