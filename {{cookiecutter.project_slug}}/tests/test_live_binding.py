"""Typed parameter binding: what ``handle_params`` and ``handle_event`` receive.

Covers scalar conversion, errors, dataclass-grouped parameters, the reserved
injectables (``socket``, ``url``, ``params``, ``event``, ``payload``), both
legacy signatures, ``**kwargs``, and decoding of the client's form, click and
hook payloads (see LIFECYCLE.md and PROTOCOL.md section d).
"""

from __future__ import annotations

import enum
import inspect
import typing as t
from dataclasses import dataclass, field
from urllib.parse import ParseResult, urlencode, urlparse

import pytest

from {{ cookiecutter.package_name }}.live.binding import BindingError, bind, convert
from {{ cookiecutter.package_name }}.live.lifecycle import call_handle_event, call_handle_params
from {{ cookiecutter.package_name }}.live.params import (
    Params,
    decode_event_value,
    decode_form,
    legacy_payload,
    split_name,
)
from {{ cookiecutter.package_name }}.live.socket import ConnectedLiveViewSocket, LiveViewSocket
from {{ cookiecutter.package_name }}.live.view import LiveView, UnhandledEvent

Socket = LiveViewSocket[dict[str, t.Any]]


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Level(enum.IntEnum):
    LOW = 1
    HIGH = 2


@dataclass
class PagingParams:
    page: int = 1
    per_page: int = 10
    sort: str = "id"


@dataclass
class UserForm:
    name: str
    email: str
    age: int = 0
    nickname: str | None = None
    tags: list[str] = field(default_factory=list)


def socket_for(url: str) -> ConnectedLiveViewSocket[dict[str, t.Any]]:
    socket: ConnectedLiveViewSocket[dict[str, t.Any]] = ConnectedLiveViewSocket(urlparse(url))
    socket.context = {}
    return socket


def form_event(
    event: str, fields: list[tuple[str, str]], target: str | None = None
) -> dict[str, t.Any]:
    """An ``event`` push exactly as the official client sends a form change."""
    payload: dict[str, t.Any] = {"type": "form", "event": event, "value": urlencode(fields)}
    if target is not None:
        payload["meta"] = {"_target": target}
    payload["uploads"] = {}
    return payload


# -- scalar conversion ---------------------------------------------------------


def test_int_float_and_str_conversion() -> None:
    assert convert("42", int, "n") == 42
    assert convert(["7"], int, "n") == 7  # query values arrive as lists
    assert convert("-3", int, "n") == -3
    assert convert("1.5", float, "x") == 1.5
    assert convert(["2"], float, "x") == 2.0
    assert convert("hello", str, "s") == "hello"
    assert convert(["a", "b"], str, "s") == "a"  # a scalar takes the first value
    assert convert(12, str, "s") == "12"


@pytest.mark.parametrize("text", ["true", "TRUE", "True", "1", "on", "yes", " Yes "])
def test_bool_true_spellings(text: str) -> None:
    assert convert(text, bool, "flag") is True


@pytest.mark.parametrize("text", ["false", "False", "0", "off", "no", ""])
def test_bool_false_spellings(text: str) -> None:
    assert convert(text, bool, "flag") is False


def test_json_bools_pass_through() -> None:
    assert convert(True, bool, "flag") is True
    assert convert(False, bool, "flag") is False


def test_optional_empty_is_none() -> None:
    assert convert("", int | None, "n") is None
    assert convert([""], int | None, "n") is None
    assert convert([], int | None, "n") is None
    assert convert(None, t.Optional[int], "n") is None  # noqa: UP045 (the old spelling)
    assert convert("5", int | None, "n") == 5
    assert convert(["5"], t.Optional[int], "n") == 5  # noqa: UP045


def test_list_of_ints_from_repeated_query_values() -> None:
    params = Params.from_query("id=1&id=2&id=30")
    assert params == {"id": ["1", "2", "30"]}
    assert convert(params["id"], list[int], "id") == [1, 2, 30]
    assert convert("4", list[int], "id") == [4]  # a single value becomes a one-item list
    assert convert(["a", "b"], list[str], "tags") == ["a", "b"]


def test_literal() -> None:
    assert convert("desc", t.Literal["asc", "desc"], "order") == "desc"
    assert convert(["asc"], t.Literal["asc", "desc"], "order") == "asc"
    assert convert("2", t.Literal[1, 2, 3], "n") == 2  # the option itself, an int
    with pytest.raises(BindingError, match="'order'") as error:
        convert("sideways", t.Literal["asc", "desc"], "order")
    assert "sideways" in str(error.value)


def test_enum_by_value_or_name() -> None:
    assert convert("red", Color, "color") is Color.RED
    assert convert("BLUE", Color, "color") is Color.BLUE
    assert convert(["blue"], Color, "color") is Color.BLUE
    assert convert("2", Level, "level") is Level.HIGH
    assert convert(1, Level, "level") is Level.LOW
    with pytest.raises(BindingError, match="'color'"):
        convert("green", Color, "color")


def test_unannotated_unwraps_a_single_value() -> None:
    empty = inspect.Parameter.empty
    assert convert(["x"], empty, "q") == "x"
    assert convert(["x", "y"], empty, "q") == ["x", "y"]
    assert convert({"a": "1"}, t.Any, "q") == {"a": "1"}


# -- errors --------------------------------------------------------------------


def test_bad_int_names_the_parameter() -> None:
    with pytest.raises(BindingError) as error:
        convert("abc", int, "page")
    assert "'page'" in str(error.value)
    assert "'abc'" in str(error.value)
    assert isinstance(error.value, ValueError)  # callers may catch ValueError


def test_bad_bool_names_the_parameter() -> None:
    with pytest.raises(BindingError, match="'flag'.*'maybe'"):
        convert("maybe", bool, "flag")


def test_non_integral_numbers_are_not_ints() -> None:
    assert convert(3.0, int, "n") == 3
    with pytest.raises(BindingError, match="'n'"):
        convert(3.5, int, "n")
    with pytest.raises(BindingError, match="'n'"):
        convert(True, int, "n")
    with pytest.raises(BindingError, match="'n'"):
        convert("1.5", int, "n")


def test_bad_float_and_list_item() -> None:
    with pytest.raises(BindingError, match="'x'"):
        convert("one", float, "x")
    with pytest.raises(BindingError, match="'ids'"):
        convert(["1", "two"], list[int], "ids")


def test_a_mapping_is_not_a_scalar() -> None:
    with pytest.raises(BindingError, match="'user'"):
        convert({"name": "bob"}, str, "user")


def test_missing_required_parameter() -> None:
    def handler(socket: Socket, page: int) -> None: ...

    with pytest.raises(BindingError, match="'page'"):
        bind(handler, {}, {"socket": lambda _: None})


def test_missing_optional_and_defaults() -> None:
    def handler(q: str | None, page: int = 1, sort: str = "id") -> None: ...

    assert bind(handler, {}, {}) == {"q": None, "page": 1, "sort": "id"}
    assert bind(handler, {"q": [""], "page": ["3"]}, {}) == {"q": None, "page": 3, "sort": "id"}
    assert bind(handler, {"q": ["x"]}, {}) == {"q": "x", "page": 1, "sort": "id"}


# -- dataclass-grouped parameters ----------------------------------------------


def test_dataclass_from_top_level_values() -> None:
    def handler(paging: PagingParams) -> None: ...

    values = Params.from_query("page=2&sort=name&unrelated=x")
    assert bind(handler, values, {}) == {"paging": PagingParams(page=2, per_page=10, sort="name")}
    assert bind(handler, {}, {}) == {"paging": PagingParams()}


def test_dataclass_from_a_nested_form_dict() -> None:
    def handler(user: UserForm) -> None: ...

    values = decode_form(
        "user%5Bname%5D=bob+smith&user%5B_unused_email%5D=&user%5Bemail%5D=b%40x.org"
        "&user%5Bage%5D=31&user%5Btags%5D%5B%5D=a&user%5Btags%5D%5B%5D=b&name=top"
    )
    (user,) = bind(handler, values, {}).values()
    assert user == UserForm(
        name="bob smith", email="b@x.org", age=31, nickname=None, tags=["a", "b"]
    )


def test_dataclass_field_errors_name_the_field() -> None:
    def handler(user: UserForm) -> None: ...

    with pytest.raises(BindingError) as missing:
        bind(handler, {"user": {"name": "bob"}}, {})
    assert "user" in str(missing.value) and "email" in str(missing.value)
    with pytest.raises(BindingError) as bad:
        bind(handler, {"user": {"name": "bob", "email": "e", "age": "old"}}, {})
    assert "user.age" in str(bad.value)


def test_path_params_are_converted_and_override_the_query() -> None:
    def handler(user_id: int, slug: str, page: int = 1) -> None: ...

    values: dict[str, t.Any] = {
        **Params.from_query("user_id=1&page=4"),
        "user_id": "17",
        "slug": "a-b",
    }
    assert bind(handler, values, {}) == {"user_id": 17, "slug": "a-b", "page": 4}
    assert bind(handler, {"user_id": 17, "slug": "x"}, {}) == {
        "user_id": 17,
        "slug": "x",
        "page": 1,
    }


# -- views driven through the lifecycle ----------------------------------------


class Recorder(LiveView[dict[str, t.Any]]):
    """Stores what its callbacks received in ``self.got``."""

    def __init__(self) -> None:
        self.got: dict[str, t.Any] = {}


class TypedParams(Recorder):
    async def handle_params(  # type: ignore[override]
        self, socket: Socket, page: int = 1, sort: str = "id", tag: list[str] | None = None
    ) -> None:
        self.got = {"socket": socket, "page": page, "sort": sort, "tag": tag}


class GroupedParams(Recorder):
    async def handle_params(self, socket: Socket, paging: PagingParams) -> None:  # type: ignore[override]
        self.got = {"paging": paging}


class PathParams(Recorder):
    async def handle_params(self, socket: Socket, user_id: int, tab: str = "info") -> None:  # type: ignore[override]
        self.got = {"user_id": user_id, "tab": tab}


class ReservedParams(Recorder):
    async def handle_params(  # type: ignore[override]
        self, socket: Socket, url: ParseResult, page: int = 1
    ) -> None:
        self.got = {"socket": socket, "url": url, "page": page}


class ParamsAsParams(Recorder):
    async def handle_params(self, socket: Socket, params: Params) -> None:  # type: ignore[override]
        self.got = {"params": params}


class ParamsAsDict(Recorder):
    async def handle_params(self, socket: Socket, params: dict[str, str]) -> None:  # type: ignore[override]
        self.got = {"params": params}


class ParamsRaw(Recorder):
    async def handle_params(self, socket, params):  # type: ignore[no-untyped-def, override]
        self.got = {"params": params}


class LegacyParams(Recorder):
    async def handle_params(self, url, params, socket):  # type: ignore[no-untyped-def, override]
        self.got = {"url": url, "params": params, "socket": socket}
        socket.context["page"] = int(params.get("page", ["1"])[0])


class KwargsParams(Recorder):
    async def handle_params(self, socket: Socket, page: int = 1, **rest: t.Any) -> None:  # type: ignore[override]
        self.got = {"page": page, "rest": rest}


async def test_handle_params_typed() -> None:
    view = TypedParams()
    socket = socket_for("http://h/users?page=2&sort=name&tag=a&tag=b")
    await call_handle_params(view, socket, {})
    assert view.got == {"socket": socket, "page": 2, "sort": "name", "tag": ["a", "b"]}
    await call_handle_params(view, socket_for("http://h/users"), {})
    assert view.got["page"] == 1 and view.got["sort"] == "id" and view.got["tag"] is None


async def test_handle_params_bad_value_raises_binding_error() -> None:
    with pytest.raises(BindingError, match="'page'"):
        await call_handle_params(TypedParams(), socket_for("http://h/users?page=abc"), {})


async def test_handle_params_grouped_in_a_dataclass() -> None:
    view = GroupedParams()
    await call_handle_params(view, socket_for("http://h/users?page=3&per_page=50&sort=email"), {})
    assert view.got == {"paging": PagingParams(page=3, per_page=50, sort="email")}


async def test_handle_params_path_params() -> None:
    view = PathParams()
    await call_handle_params(view, socket_for("http://h/users/9?tab=posts"), {"user_id": "9"})
    assert view.got == {"user_id": 9, "tab": "posts"}


async def test_reserved_socket_and_url_win_over_query_values() -> None:
    view = ReservedParams()
    url = "http://h/users?socket=123&url=x&page=5"
    socket = socket_for(url)
    await call_handle_params(view, socket, {})
    assert view.got["socket"] is socket
    assert view.got["url"] == urlparse(url)
    assert isinstance(view.got["url"], ParseResult)
    assert view.got["page"] == 5


async def test_params_injectable_as_params() -> None:
    view = ParamsAsParams()
    await call_handle_params(view, socket_for("http://h/?a=1&a=2&b=&params=zzz"), {})
    params = view.got["params"]
    assert isinstance(params, Params)
    assert params == {"a": ["1", "2"], "b": [""], "params": ["zzz"]}
    assert params.one("a") == "1" and params.one("missing", "d") == "d"


async def test_params_injectable_as_dict_of_str() -> None:
    view = ParamsAsDict()
    await call_handle_params(view, socket_for("http://h/?a=1&a=2&b=x"), {})
    assert view.got["params"] == {"a": "1", "b": "x"}
    assert type(view.got["params"]) is dict


async def test_params_injectable_raw() -> None:
    view = ParamsRaw()
    await call_handle_params(view, socket_for("http://h/?a=1&a=2"), {})
    assert view.got["params"] == {"a": ["1", "2"]}


async def test_legacy_handle_params_signature() -> None:
    view = LegacyParams()
    socket = socket_for("http://h/list?page=4&q=x&q=y")
    await call_handle_params(view, socket, {})
    assert view.got["socket"] is socket
    assert view.got["url"] == urlparse("http://h/list?page=4&q=x&q=y")
    assert view.got["params"] == {"page": ["4"], "q": ["x", "y"]}
    assert socket.context == {"page": 4}


async def test_kwargs_receive_the_rest() -> None:
    view = KwargsParams()
    await call_handle_params(view, socket_for("http://h/?page=2&q=x&tag=a&tag=b"), {"slug": "s"})
    assert view.got == {"page": 2, "rest": {"q": ["x"], "tag": ["a", "b"], "slug": "s"}}


class TypedEvent(Recorder):
    async def handle_event(  # type: ignore[override]
        self, socket: ConnectedLiveViewSocket[dict[str, t.Any]], by: int, value: str = ""
    ) -> None:
        self.got = {"socket": socket, "by": by, "value": value}


class EventNameEvent(Recorder):
    async def handle_event(  # type: ignore[override]
        self, event: str, socket: ConnectedLiveViewSocket[dict[str, t.Any]], user_id: str
    ) -> None:
        self.got = {"event": event, "user_id": user_id}


class FormEvent(Recorder):
    async def handle_event(  # type: ignore[override]
        self, socket: Socket, user: UserForm, _target: list[str]
    ) -> None:
        self.got = {"user": user, "_target": _target}


class PayloadEvent(Recorder):
    async def handle_event(  # type: ignore[override]
        self, event: str, socket: Socket, payload: dict[str, t.Any]
    ) -> None:
        self.got = {"event": event, "payload": payload}


class LegacyEvent(Recorder):
    async def handle_event(self, event, payload, socket):  # type: ignore[no-untyped-def, override]
        self.got = {"event": event, "payload": payload, "socket": socket}
        socket.context["name"] = payload.get("name", [""])[0]


class HookEvent(Recorder):
    async def handle_event(  # type: ignore[override]
        self, socket: Socket, x: int, y: float, ok: bool, label: str, points: list[int]
    ) -> None:
        self.got = {"x": x, "y": y, "ok": ok, "label": label, "points": points}


class KwargsEvent(Recorder):
    async def handle_event(self, event: str, socket: Socket, **rest: t.Any) -> None:  # type: ignore[override]
        self.got = {"event": event, "rest": rest}


CLICK = {"type": "click", "event": "inc", "value": {"by": "2", "value": ""}}


async def test_click_payload_binds_typed_values() -> None:
    view = TypedEvent()
    socket = socket_for("http://h/")
    await call_handle_event(view, socket, "inc", CLICK)
    assert view.got == {"socket": socket, "by": 2, "value": ""}


async def test_click_payload_bad_value() -> None:
    payload = {"type": "click", "event": "inc", "value": {"by": "lots", "value": ""}}
    with pytest.raises(BindingError, match="'by'"):
        await call_handle_event(TypedEvent(), socket_for("http://h/"), "inc", payload)


async def test_event_name_injected_and_wins_over_payload_key() -> None:
    view = EventNameEvent()
    payload = {"type": "click", "event": "delete_user", "value": {"user_id": "7", "event": "spoof"}}
    await call_handle_event(view, socket_for("http://h/"), "delete_user", payload)
    assert view.got == {"event": "delete_user", "user_id": "7"}


async def test_reserved_socket_and_payload_win_over_payload_keys() -> None:
    view = PayloadEvent()
    socket = socket_for("http://h/")
    payload = {
        "type": "click",
        "event": "save",
        "value": {"socket": "123", "payload": "p", "event": "e", "a": "1"},
    }
    await call_handle_event(view, socket, "save", payload)
    assert view.got["event"] == "save"
    # An annotated ``payload`` is the decoded value dict.
    assert view.got["payload"] == {"socket": "123", "payload": "p", "event": "e", "a": "1"}
    view2 = TypedEvent()
    await call_handle_event(view2, socket, "inc", {**CLICK, "value": {"by": "1", "socket": "123"}})
    assert view2.got["socket"] is socket


async def test_form_payload_binds_a_dataclass_and_target() -> None:
    view = FormEvent()
    payload = form_event(
        "validate",
        [
            ("user[name]", "bob smith"),
            ("user[_unused_email]", ""),
            ("user[email]", "x@y"),
            ("user[tags][]", "a"),
            ("user[tags][]", "b"),
        ],
        target="user[name]",
    )
    await call_handle_event(view, socket_for("http://h/"), "validate", payload)
    assert view.got == {
        "user": UserForm(name="bob smith", email="x@y", tags=["a", "b"]),
        "_target": ["user", "name"],
    }


async def test_legacy_handle_event_signature_with_a_form() -> None:
    view = LegacyEvent()
    socket = socket_for("http://h/")
    payload = form_event("save", [("name", "ann"), ("tags", "a"), ("tags", "b")], target="name")
    await call_handle_event(view, socket, "save", payload)
    assert view.got["event"] == "save"
    assert view.got["socket"] is socket
    assert view.got["payload"] == {"name": ["ann"], "tags": ["a", "b"], "_target": ["name"]}
    assert socket.context == {"name": "ann"}


async def test_legacy_handle_event_signature_with_a_click() -> None:
    view = LegacyEvent()
    socket = socket_for("http://h/")
    await call_handle_event(view, socket, "inc", CLICK)
    assert view.got["payload"] == {"by": ["2"], "value": [""]}
    assert socket.context == {"name": ""}


async def test_hook_payload_with_json_numbers() -> None:
    view = HookEvent()
    payload = {
        "type": "hook",
        "event": "moved",
        "value": {"x": 3, "y": 4.5, "ok": True, "label": 12, "points": [1, 2, 3]},
    }
    await call_handle_event(view, socket_for("http://h/"), "moved", payload)
    assert view.got == {"x": 3, "y": 4.5, "ok": True, "label": "12", "points": [1, 2, 3]}
    assert type(view.got["x"]) is int and type(view.got["y"]) is float


async def test_kwargs_receive_the_rest_of_an_event() -> None:
    view = KwargsEvent()
    payload = form_event("save", [("a", "1"), ("b[c]", "2")], target="a")
    await call_handle_event(view, socket_for("http://h/"), "save", payload)
    assert view.got == {"event": "save", "rest": {"a": "1", "b": {"c": "2"}, "_target": ["a"]}}


async def test_base_handle_event_reports_unhandled() -> None:
    with pytest.raises(UnhandledEvent):
        await call_handle_event(LiveView(), socket_for("http://h/"), "nope", CLICK)


# -- decoding what the client sends --------------------------------------------


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


def test_decode_event_value_click_key_and_hook() -> None:
    assert decode_event_value(CLICK) == {"by": "2", "value": ""}
    key = {"type": "keydown", "event": "key", "value": {"key": "Enter", "value": "typed"}}
    assert decode_event_value(key) == {"key": "Enter", "value": "typed"}
    hook = {"type": "hook", "event": "h", "value": {"n": 3, "f": 1.5, "xs": [1, 2]}}
    assert decode_event_value(hook) == {"n": 3, "f": 1.5, "xs": [1, 2]}
    assert decode_event_value({"type": "hook", "event": "h", "value": 5}) == {"value": 5}
    assert decode_event_value({"type": "hook", "event": "h"}) == {}


def test_decode_event_value_does_not_alias_the_payload() -> None:
    value = {"a": "1"}
    decoded = decode_event_value({"type": "click", "event": "x", "value": value})
    decoded["b"] = "2"
    assert value == {"a": "1"}


def test_legacy_payload_is_names_to_lists_of_strings() -> None:
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
    assert legacy_payload(CLICK) == {"by": ["2"], "value": [""]}
    assert legacy_payload({"type": "hook", "event": "h", "value": {"n": 3}}) == {"n": ["3"]}
    assert legacy_payload({"type": "hook", "event": "h", "value": 5}) == {}
