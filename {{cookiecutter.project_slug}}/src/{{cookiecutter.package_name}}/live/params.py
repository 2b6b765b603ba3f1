"""Decoding what the client sends: query strings and urlencoded forms.

Forms arrive as Plug-style bracketed names (``user[name]=bob&tags[]=a``);
they are decoded into nested dicts and lists, as Phoenix does.
"""

from __future__ import annotations

import re
import typing as t
from urllib.parse import parse_qs, parse_qsl

Nested = dict[str, t.Any]

_KEY_PART = re.compile(r"\[([^\[\]]*)\]")


class Params(dict[str, list[str]]):
    """URL query parameters: each name maps to all of its values, in order."""

    @classmethod
    def from_query(cls, query: str) -> Params:
        return cls(parse_qs(query, keep_blank_values=True))

    def one(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``, or ``default``."""
        values = self.get(name)
        return values[0] if values else default


def split_name(name: str) -> list[str]:
    """``"user[address][city]"`` → ``["user", "address", "city"]``; ``"a[]"`` ends with ``""``."""
    head, bracket, rest = name.partition("[")
    if not bracket:
        return [name]
    return [head, *_KEY_PART.findall("[" + rest)]


def decode_event_value(payload: Nested) -> Nested:
    """The values of an ``event`` push as one nested dict.

    Forms (``type == "form"``) are decoded and their ``_target`` (from ``meta``)
    becomes a list of keys; clicks, keys and hooks send a JSON object.
    """
    value = payload.get("value")
    if payload.get("type") == "form" and isinstance(value, str):
        values = decode_form(value)
        meta = payload.get("meta")
        if isinstance(meta, dict):
            for key, item in meta.items():
                values[key] = (
                    split_name(item) if key == "_target" and isinstance(item, str) else item
                )
        return values
    if isinstance(value, dict):
        return dict(value)
    return {} if value is None else {"value": value}


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


def legacy_payload(payload: Nested) -> dict[str, list[str]]:
    """The payload of legacy ``handle_event(event, payload, socket)``: names to lists of strings."""
    value = payload.get("value")
    if payload.get("type") == "form" and isinstance(value, str):
        lists = parse_qs(value, keep_blank_values=True)
        meta = payload.get("meta")
        if isinstance(meta, dict):
            lists.update({key: [str(item)] for key, item in meta.items()})
        return lists
    if isinstance(value, dict):
        return {key: item if isinstance(item, list) else [str(item)] for key, item in value.items()}
    return {}
