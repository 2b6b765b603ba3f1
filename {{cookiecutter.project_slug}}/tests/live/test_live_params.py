"""Decoding what the client sends (``live/params.py``): URLs, forms, event values.

Covers the raw URL values and the ``Params`` wrapper (PyView's API), Plug-style
form decoding, and what typed and legacy ``handle_event`` receive for each kind
of event the official client pushes (PROTOCOL.md section d).
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlencode

import pytest

from {{ cookiecutter.package_name }}.live.params import (
    Params,
    decode_event_value,
    decode_form,
    flat,
    legacy_payload,
    split_name,
    url_values,
)

CLICK = {"type": "click", "event": "inc", "value": {"by": "2", "value": ""}}


# -- URL values and Params -----------------------------------------------------


def test_url_values_are_query_lists_and_single_path_values() -> None:
    assert url_values("page=5&tag=a&tag=b&blank=", {"job_id": "abc-123"}) == {
        "page": ["5"],
        "tag": ["a", "b"],
        "blank": [""],
        "job_id": "abc-123",
    }
    assert url_values("id=1&id=2", {"id": 9}) == {"id": 9}  # the path wins
    assert url_values("", {}) == {}


def test_flat_unwraps_only_a_single_value() -> None:
    assert flat(["1"]) == "1"
    assert flat(["a", "b"]) == ["a", "b"]
    assert flat([]) == []
    assert flat("abc-123") == "abc-123"
    assert flat(7) == 7


@pytest.fixture
def params() -> Params:
    return Params(url_values("page=5&tag=a&tag=b&blank=", {"job_id": "abc-123", "n": 7}))


def test_params_get_gives_the_first_value_as_a_string(params: Params) -> None:
    assert params.get("page") == "5"
    assert params.get("tag") == "a"
    assert params.get("blank") == ""
    assert params.get("job_id") == "abc-123"
    assert params.get("n") == "7"  # a path parameter converted by its route
    assert params.get("missing") is None
    assert params.get("missing", "1") == "1"


def test_params_getlist_and_getone(params: Params) -> None:
    assert params.getlist("tag") == ["a", "b"]
    assert params.getlist("job_id") == ["abc-123"]
    assert params.getlist("n") == ["7"]
    assert params.getlist("missing") == []
    assert params.getone("page") == "5"
    assert params.getone("tag") == "a"
    with pytest.raises(KeyError, match="missing"):
        params.getone("missing")
    with pytest.raises(KeyError):
        Params({"empty": []}).getone("empty")


def test_params_membership_keys_and_items(params: Params) -> None:
    assert params.has("page") and params.has("job_id") and not params.has("missing")
    assert "tag" in params and "missing" not in params
    assert params.keys() == ["page", "tag", "blank", "job_id", "n"]
    assert list(params) == params.keys()
    assert len(params) == 5
    assert params.items() == [
        ("page", "5"),
        ("tag", "a"),
        ("blank", ""),
        ("job_id", "abc-123"),
        ("n", "7"),
    ]
    assert Params({"empty": [], "a": ["1"]}).items() == [("a", "1")]


def test_params_raw_and_flat_dict(params: Params) -> None:
    raw = {"page": ["5"], "tag": ["a", "b"], "blank": [""], "job_id": "abc-123", "n": 7}
    assert params.raw() == raw
    assert params["page"] == ["5"] and params["job_id"] == "abc-123"
    with pytest.raises(KeyError):
        params["missing"]
    assert params.to_flat_dict() == {
        "page": "5",
        "tag": ["a", "b"],
        "blank": "",
        "job_id": "abc-123",
        "n": 7,
    }
    assert repr(Params({"a": ["1"]})) == "Params({'a': ['1']})"


def test_params_keeps_its_own_copy() -> None:
    data = {"a": ["1"]}
    params = Params(data)
    data["b"] = ["2"]
    assert not params.has("b")


# -- forms ---------------------------------------------------------------------


def test_split_name() -> None:
    assert split_name("name") == ["name"]
    assert split_name("user[name]") == ["user", "name"]
    assert split_name("user[address][city]") == ["user", "address", "city"]
    assert split_name("tags[]") == ["tags", ""]


def test_decode_form_nests_brackets_and_keeps_unused_keys() -> None:
    body = (
        "user%5Bname%5D=bob+smith&user%5B_unused_email%5D=&user%5Bemail%5D=x%40y"
        "&user%5Baddress%5D%5Bcity%5D=Paris&tags%5B%5D=a&tags%5B%5D=b&plain=1&empty="
    )
    assert decode_form(body) == {
        "user": {
            "name": "bob smith",
            "_unused_email": "",
            "email": "x@y",
            "address": {"city": "Paris"},
        },
        "tags": ["a", "b"],
        "plain": "1",
        "empty": "",
    }


def test_decode_form_nested_lists_and_last_scalar_wins() -> None:
    body = urlencode([("user[roles][]", "admin"), ("user[roles][]", "dev"), ("x", "1"), ("x", "2")])
    assert decode_form(body) == {"user": {"roles": ["admin", "dev"]}, "x": "2"}
    assert decode_form("") == {}
    assert decode_form("=v&a%5B%5D=1") == {"": "v", "a": ["1"]}  # an unnamed field


# -- event values, typed -------------------------------------------------------


def test_decode_event_value_form_with_target() -> None:
    payload = {
        "type": "form",
        "event": "validate",
        "value": "user%5Bname%5D=bob+smith&user%5B_unused_email%5D=&user%5Bemail%5D=x%40y",
        "meta": {"_target": "user[name]"},
        "uploads": {},
    }
    assert decode_event_value(payload) == {
        "user": {"name": "bob smith", "_unused_email": "", "email": "x@y"},
        "_target": ["user", "name"],
    }


def test_decode_event_value_submit_meta_values_are_merged() -> None:
    payload = {"type": "form", "event": "save", "value": "a=1", "meta": {"id": "5"}}
    assert decode_event_value(payload) == {"a": "1", "id": "5"}
    assert decode_event_value({"type": "form", "event": "save", "value": "a=1", "meta": 3}) == {
        "a": "1"
    }


def test_decode_event_value_click_key_and_hook() -> None:
    assert decode_event_value(CLICK) == {"by": "2", "value": ""}
    key = {"type": "keydown", "event": "key", "value": {"key": "Enter", "value": "typed"}}
    assert decode_event_value(key) == {"key": "Enter", "value": "typed"}
    hook = {"type": "hook", "event": "h", "value": {"n": 3, "f": 1.5, "xs": [1, 2]}}
    assert decode_event_value(hook) == {"n": 3, "f": 1.5, "xs": [1, 2]}
    assert decode_event_value({"type": "hook", "event": "h", "value": 5}) == {"value": 5}
    assert decode_event_value({"type": "hook", "event": "h"}) == {}
    # Only a form's value is urlencoded; a hook may push any string.
    assert decode_event_value({"type": "hook", "event": "h", "value": "a=1"}) == {"value": "a=1"}


def test_decode_event_value_does_not_alias_the_payload() -> None:
    value = {"a": "1"}
    decoded = decode_event_value({"type": "click", "event": "x", "value": value})
    decoded["b"] = "2"
    assert value == {"a": "1"}


# -- event values, legacy ------------------------------------------------------


def test_legacy_payload_of_a_form_is_names_to_lists_of_strings() -> None:
    form = {
        "type": "form",
        "event": "validate",
        "value": "user%5Bname%5D=bob&user%5B_unused_email%5D=&tags=a&tags=b",
        "meta": {"_target": "user[name]"},
    }
    assert legacy_payload(form) == {
        "user[name]": ["bob"],
        "user[_unused_email]": [""],
        "tags": ["a", "b"],
        "_target": ["user[name]"],
    }
    submit = {"type": "form", "event": "save", "value": "a=1", "meta": {"save": "draft"}}
    assert legacy_payload(submit) == {"a": ["1"], "save": ["draft"]}


def test_legacy_payload_of_clicks_keys_and_hooks_is_the_value_as_sent() -> None:
    assert legacy_payload(CLICK) == {"by": "2", "value": ""}
    click = {"type": "click", "event": "at", "value": {"x": 10, "y": 20, "value": ""}}
    assert legacy_payload(click) == {"x": 10, "y": 20, "value": ""}
    key = {"type": "keyup", "event": "k", "value": {"key": "Escape", "value": ""}}
    assert legacy_payload(key) == {"key": "Escape", "value": ""}
    nested: dict[str, t.Any] = {
        "taskId": "task-1",
        "position": {"column": 2, "index": 0},
        "tags": [{"id": 1}],
        "done": False,
        "due": None,
    }
    assert legacy_payload({"type": "hook", "event": "moved", "value": nested}) == nested
    assert legacy_payload({"type": "hook", "event": "h", "value": 5}) == {"value": 5}
    assert legacy_payload({"type": "hook", "event": "h"}) == {}
    assert legacy_payload({"type": "hook", "event": "h", "value": "a=1"}) == {"value": "a=1"}
