"""Decoding what the client sends: URLs, urlencoded forms and event values.

Forms arrive as Plug-style bracketed names (``user[name]=bob&tags[]=a``);
they are decoded into nested dicts and lists, as Phoenix does.
"""

from __future__ import annotations

import re
import typing as t
from urllib.parse import parse_qs, parse_qsl

Nested = dict[str, t.Any]

_KEY_PART = re.compile(r"\[([^\[\]]*)\]")


def url_values(query: str, path_params: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A URL's raw values: query names map to lists of strings, path parameters to themselves.

    A path parameter wins over a query value of the same name.
    """
    return {**parse_qs(query, keep_blank_values=True), **path_params}


def flat(value: t.Any) -> t.Any:
    """A single value as itself, several as a list: ``["1"]`` → ``"1"``."""
    return value[0] if isinstance(value, list) and len(value) == 1 else value


class Params:
    """URL values for code written against PyView: ``get`` gives a name's first value.

    Wraps the raw values of ``url_values``; every accessor but ``raw`` and
    ``[]`` gives strings (a path parameter converted by its route, such as
    ``{id:int}``, reads as ``"5"``).
    """

    __slots__ = ("_data",)

    def __init__(self, data: t.Mapping[str, t.Any]) -> None:
        self._data = dict(data)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        values = self.getlist(name)
        return values[0] if values else default

    def getlist(self, name: str) -> list[str]:
        """Every value of ``name``, in order; ``[]`` when absent."""
        value = self._data.get(name)
        if value is None:
            return []
        return [str(item) for item in value] if isinstance(value, list) else [str(value)]

    def getone(self, name: str) -> str:
        """The first value of ``name``; ``KeyError`` when it is absent."""
        values = self.getlist(name)
        if not values:
            raise KeyError(name)
        return values[0]

    def has(self, name: str) -> bool:
        return name in self._data

    def keys(self) -> list[str]:
        return list(self._data)

    def items(self) -> list[tuple[str, str]]:
        """``(name, first value)`` pairs."""
        return [(name, values[0]) for name in self._data if (values := self.getlist(name))]

    def raw(self) -> dict[str, t.Any]:
        """The wrapped values: lists of strings from the query, path parameters as they are."""
        return self._data

    def to_flat_dict(self) -> dict[str, t.Any]:
        """Each single value as itself, several as a list (see ``flat``)."""
        return {name: flat(value) for name, value in self._data.items()}

    def __getitem__(self, name: str) -> t.Any:
        return self._data[name]

    def __contains__(self, name: object) -> bool:
        return name in self._data

    def __iter__(self) -> t.Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return f"Params({self._data!r})"


def split_name(name: str) -> list[str]:
    """``"user[address][city]"`` → ``["user", "address", "city"]``; ``"a[]"`` ends with ``""``."""
    head, bracket, rest = name.partition("[")
    if not bracket:
        return [name]
    return [head, *_KEY_PART.findall("[" + rest)]


def decode_event_value(payload: Nested) -> Nested:
    """The values of an ``event`` push as one nested dict.

    Forms (``type == "form"``) are decoded and their ``_target`` (from ``meta``)
    becomes a list of keys; clicks, keys and hooks send a JSON object, kept as
    sent (a hook's value that is not an object arrives as ``{"value": value}``).
    """
    body = _form_body(payload)
    if body is not None:
        values = decode_form(body)
        for key, item in _form_meta(payload).items():
            values[key] = split_name(item) if key == "_target" and isinstance(item, str) else item
        return values
    value = payload.get("value")
    if isinstance(value, dict):
        return dict(value)
    return {} if value is None else {"value": value}


def legacy_payload(payload: Nested) -> Nested:
    """The payload of legacy ``handle_event(event, payload, socket)``.

    A form gives its flat names to lists of strings (``{"user[name]": ["bob"]}``,
    read as ``payload.get("user[name]", [""])[0]``); clicks, keys and hooks
    give their JSON value as the client sent it, numbers and nested objects
    included (see ``decode_event_value``).
    """
    body = _form_body(payload)
    if body is None:
        return decode_event_value(payload)
    lists: Nested = parse_qs(body, keep_blank_values=True)
    lists.update({key: [str(item)] for key, item in _form_meta(payload).items()})
    return lists


def _form_body(payload: Nested) -> str | None:
    """The urlencoded body of a form event, or ``None`` for other events."""
    value = payload.get("value")
    return value if payload.get("type") == "form" and isinstance(value, str) else None


def _form_meta(payload: Nested) -> Nested:
    """A form event's extra values: ``_target`` on change, the submitter on submit."""
    meta = payload.get("meta")
    return meta if isinstance(meta, dict) else {}


def decode_form(body: str) -> Nested:
    """Decode an urlencoded form into nested dicts; repeated ``name[]`` keys make a list."""
    result: Nested = {}
    for name, value in parse_qsl(body, keep_blank_values=True):
        keys = split_name(name)
        if len(keys) > 1 and keys[-1] == "":
            parent = _walk(result, keys[:-2])
            values = parent.get(keys[-2])
            if not isinstance(values, list):
                values = parent[keys[-2]] = []
            values.append(value)
        else:
            _walk(result, keys[:-1])[keys[-1]] = value
    return result


def _walk(target: Nested, keys: list[str]) -> Nested:
    """The dict at ``keys`` below ``target``, created as needed."""
    for key in keys:
        child = target.get(key)
        if not isinstance(child, dict):
            child = target[key] = {}
        target = child
    return target
