"""Typed parameter binding: what ``handle_params`` and ``handle_event`` receive.

Covers conversion (scalars, collections, unions), structured errors, dataclass
groups, the reserved injectables (``socket``, ``url``, ``params`` in each of
its forms, ``event``, ``payload``), both legacy signatures and ``**kwargs``:
through ``bind``/``convert``, through the lifecycle functions with real view
classes, and end to end through the test client (see LIFECYCLE.md).
"""

from __future__ import annotations

import decimal
import enum
import functools
import gc
import inspect
import json
import typing as t
import weakref
from dataclasses import dataclass, field
from urllib.parse import ParseResult, parse_qs, urlencode, urlparse

import pytest
from jinja2 import DictLoader
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware

from {{ cookiecutter.package_name }}.live import (
    BindingError,
    LiveEnvironment,
    LiveRoutes,
    Params,
)
from {{ cookiecutter.package_name }}.live.binding import bind, convert
from {{ cookiecutter.package_name }}.live.lifecycle import call_handle_event, call_handle_params
from {{ cookiecutter.package_name }}.live.params import decode_form
from {{ cookiecutter.package_name }}.live.socket import ConnectedLiveViewSocket, LiveViewSocket
from {{ cookiecutter.package_name }}.live.testing import HTTPError, live
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


@dataclass
class Address:
    city: str
    zip: str


@dataclass
class Signup:
    name: str
    email: str
    age: int
    note: str | None  # Optional without a default: not required
    address: Address | None = None
    roles: list[str] = field(default_factory=list)  # a default factory: not required


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


def test_a_blank_number_is_no_value() -> None:
    assert convert("", int | None, "n") is None
    assert convert([""], int | None, "n") is None
    assert convert([], int | None, "n") is None
    assert convert(None, t.Optional[int], "n") is None  # noqa: UP045 (the old spelling)
    assert convert("", Color | None, "c") is None
    assert convert("5", int | None, "n") == 5
    assert convert(["5"], t.Optional[int], "n") == 5  # noqa: UP045


def test_a_blank_text_field_is_an_empty_string() -> None:
    assert convert("", str | None, "q") == ""
    assert convert([""], str | None, "q") == ""
    assert convert([""], t.Optional[str], "q") == ""  # noqa: UP045
    assert convert("", int | str | None, "q") == ""
    assert convert([], str | None, "q") is None  # no value at all
    assert convert(None, str | None, "q") is None  # JSON null


def test_union_without_none_takes_the_first_option_that_converts() -> None:
    assert convert("", int | str, "q") == ""
    assert convert([""], int | str, "q") == ""
    assert convert("5", int | str, "q") == 5
    assert convert("x", int | str, "q") == "x"
    with pytest.raises(BindingError) as error:
        convert("x", int | float, "n")
    assert error.value.errors == {"n": "'x' is not a valid int or 'x' is not a valid float"}


def test_optional_dataclass_keeps_nested_field_names() -> None:
    with pytest.raises(BindingError) as error:
        convert({"city": "Paris"}, Address | None, "address")
    assert error.value.errors == {"address.zip": "is required"}


# -- collections ---------------------------------------------------------------


def test_list_of_ints_from_repeated_query_values() -> None:
    values = parse_qs("id=1&id=2&id=30")
    assert convert(values["id"], list[int], "id") == [1, 2, 30]
    assert convert("4", list[int], "id") == [4]  # a single value becomes a one-item list
    assert convert(["a", "b"], list[str], "tags") == ["a", "b"]
    assert convert([["1"], {"a": 1}], list, "xs") == [["1"], {"a": 1}]  # bare: items as sent
    assert convert("x", list, "xs") == ["x"]


def test_sets_keep_every_distinct_value() -> None:
    assert convert(["a", "b", "a"], set[str], "s") == {"a", "b"}
    assert convert(["1", "2", "1"], set[int], "s") == {1, 2}
    assert convert(["1", 2], frozenset[int], "s") == frozenset({1, 2})
    assert type(convert(["1"], frozenset[int], "s")) is frozenset
    assert convert("abc", set[str], "s") == {"abc"}  # one value, not its characters
    assert convert(7, set[int], "s") == {7}
    assert convert(["a", "a"], set, "s") == {"a"}
    with pytest.raises(BindingError, match="'s'.*not a valid int"):
        convert(["1", "x"], set[int], "s")


def test_a_set_of_unhashable_values_is_a_binding_error() -> None:
    with pytest.raises(BindingError) as error:
        convert([{"a": 1}], set, "s")
    assert error.value.errors == {"s": "[{'a': 1}] cannot be a set"}


def test_variable_length_tuples() -> None:
    assert convert(["1", "2"], tuple[int, ...], "t") == (1, 2)
    assert convert("7", tuple[int, ...], "t") == (7,)
    assert convert([], tuple[int, ...], "t") == ()
    assert convert(["a", 1], tuple, "t") == ("a", 1)
    with pytest.raises(BindingError, match="'t'"):
        convert(["1", "b"], tuple[int, ...], "t")


def test_fixed_length_tuples() -> None:
    assert convert(["42", "hello"], tuple[int, str], "t") == (42, "hello")
    assert convert([1.5, "2"], tuple[float, int], "t") == (1.5, 2)
    with pytest.raises(BindingError) as short:
        convert(["42"], tuple[int, str], "t")
    assert short.value.errors == {"t": "expected 2 values, got 1"}
    with pytest.raises(BindingError, match="expected 2 values, got 3"):
        convert(["1", "2", "3"], tuple[int, int], "t")
    with pytest.raises(BindingError, match="'t': 'x' is not a valid int"):
        convert(["x", "y"], tuple[int, str], "t")


def test_dicts_convert_their_values() -> None:
    assert convert({"a": "1", "b": ["2"]}, dict[str, int], "m") == {"a": 1, "b": 2}
    assert convert({"1": "x"}, dict[int, str], "m") == {1: "x"}
    raw = {"a": ["1"], "b": {"c": "2"}}
    assert convert(raw, dict[str, t.Any], "m") == raw  # as sent, single values not unwrapped
    assert convert(raw, dict, "m") == raw and convert(raw, dict, "m") is not raw
    with pytest.raises(BindingError) as error:
        convert({"a": "1", "b": "x"}, dict[str, int], "m")
    assert error.value.errors == {"m.b": "'x' is not a valid int"}
    with pytest.raises(BindingError, match="'m': expected a mapping"):
        convert(["a"], dict[str, int], "m")
    with pytest.raises(BindingError) as key:
        convert({"x": "1"}, dict[int, str], "m")
    assert key.value.errors == {"m": "'x' is not a valid int"}


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


def test_an_empty_list_for_a_scalar_is_a_binding_error() -> None:
    for annotation in (int, str, float, bool, Color, t.Literal["a"]):
        with pytest.raises(BindingError) as error:
            convert([], annotation, "n")
        assert error.value.errors == {"n": "has no value"}

    def handler(n: int) -> None: ...

    with pytest.raises(BindingError, match="'n': has no value"):
        bind(handler, {"n": []}, {})


def test_json_null_is_no_value_unless_none_is_allowed() -> None:
    for annotation in (str, int, int | str, list[str], Color):
        with pytest.raises(BindingError) as error:
            convert(None, annotation, "n")
        assert error.value.errors == {"n": "has no value"}, annotation
    assert convert(None, t.Any, "n") is None


def test_any_callable_annotation_converts_and_is_named_in_errors() -> None:
    hexadecimal = functools.partial(int, base=16)
    assert convert("ff", hexadecimal, "h") == 255
    with pytest.raises(BindingError) as error:
        convert("zz", hexadecimal, "h")
    assert error.value.errors == {"h": f"'zz' is not a valid {hexadecimal}"}


def test_a_value_the_type_rejects_is_a_binding_error() -> None:
    assert convert("1.50", decimal.Decimal, "price") == decimal.Decimal("1.50")
    with pytest.raises(BindingError, match="'price': 'abc' is not a valid Decimal"):
        convert("abc", decimal.Decimal, "price")  # Decimal raises an ArithmeticError


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

    with pytest.raises(BindingError, match="'page'") as error:
        bind(handler, {}, {"socket": lambda _: None})
    assert error.value.errors == {"page": "is required"}
    assert str(error.value) == "parameter 'page': is required"


def test_binding_error_names_every_bad_parameter() -> None:
    def handler(page: int, size: int, sort: t.Literal["asc", "desc"], q: str = "") -> None: ...

    with pytest.raises(BindingError) as error:
        bind(handler, {"page": ["x"], "sort": ["up"], "q": ["ok"]}, {})
    assert error.value.errors == {
        "page": "'x' is not a valid int",
        "size": "is required",
        "sort": "'up' is not one of 'asc', 'desc'",
    }
    assert str(error.value) == (
        "parameter 'page': 'x' is not a valid int; parameter 'size': is required; "
        "parameter 'sort': 'up' is not one of 'asc', 'desc'"
    )
    assert "\n" not in str(error.value)


def test_binding_error_from_a_single_conversion() -> None:
    with pytest.raises(BindingError) as error:
        convert("abc", int, "page")
    assert error.value.errors == {"page": "'abc' is not a valid int"}
    assert str(error.value) == "parameter 'page': 'abc' is not a valid int"


HUGE = "9" * (16 * 1024 * 1024)


@pytest.mark.parametrize(
    "value, annotation",
    [
        (HUGE + "x", int),
        ([HUGE + "x"], float),
        (HUGE, t.Literal["a", "b"]),
        (HUGE, Color),
        (HUGE, bool),
        ([{"k": HUGE}], set),
        (HUGE + "x", int | float),
        ({"k": HUGE}, str),
    ],
    ids=["int", "float", "literal", "enum", "bool", "set", "union", "mapping"],
)
def test_client_values_in_errors_are_truncated(value: t.Any, annotation: t.Any) -> None:
    with pytest.raises(BindingError) as error:
        convert(value, annotation, "n")
    assert len(str(error.value)) < 300
    assert all(len(message) <= 250 for message in error.value.errors.values())


def test_client_keys_in_error_names_are_truncated() -> None:
    with pytest.raises(BindingError) as error:
        convert({HUGE: "x"}, dict[str, int], "m")
    (name,) = error.value.errors
    assert name == "m." + "9" * 97 + "..."
    assert len(str(error.value)) < 300
    for key, shown in [("k" * 100, "k" * 100), ("k" * 101, "k" * 97 + "...")]:
        with pytest.raises(BindingError) as cut:
            convert({key: "x"}, dict[str, int], "m")
        assert cut.value.errors == {f"m.{shown}": "'x' is not a valid int"}


def test_only_a_union_with_none_may_be_missing() -> None:
    def handler(a: int | str, b: t.Optional[int], c: t.Union[int, None], d: t.Any) -> None: ...  # noqa: UP007, UP045

    with pytest.raises(BindingError) as error:
        bind(handler, {}, {})
    assert error.value.errors == {"a": "is required", "d": "is required"}
    assert bind(handler, {"a": ["1"], "d": "x"}, {}) == {"a": 1, "b": None, "c": None, "d": "x"}


def test_missing_optional_and_defaults() -> None:
    def handler(q: str | None, n: int | None, page: int = 1, sort: str = "id") -> None: ...

    assert bind(handler, {}, {}) == {"q": None, "n": None, "page": 1, "sort": "id"}
    assert bind(handler, {"q": [""], "n": [""], "page": ["3"]}, {}) == {
        "q": "",  # a blank text field is "", only an absent one is None
        "n": None,
        "page": 3,
        "sort": "id",
    }
    assert bind(handler, {"q": ["x"]}, {}) == {"q": "x", "n": None, "page": 1, "sort": "id"}


# -- dataclass-grouped parameters ----------------------------------------------


def test_a_dataclass_needs_a_mapping() -> None:
    with pytest.raises(BindingError) as error:
        convert("Paris", Address, "address")
    assert error.value.errors == {"address": "expected a mapping"}


def test_binding_does_not_keep_views_alive() -> None:
    view = PathParams()
    bind(view.handle_params, {"user_id": "1"}, {"socket": lambda _: None})
    alive = weakref.ref(view)
    del view
    gc.collect()
    assert alive() is None  # signatures are cached per function, not per bound method


def test_dataclass_from_top_level_values() -> None:
    def handler(paging: PagingParams) -> None: ...

    values = parse_qs("page=2&sort=name&unrelated=x")
    assert bind(handler, values, {}) == {"paging": PagingParams(page=2, per_page=10, sort="name")}
    assert bind(handler, {}, {}) == {"paging": PagingParams()}
    with pytest.raises(BindingError) as error:
        bind(handler, {"page": ["x"]}, {})
    assert error.value.errors == {"page": "'x' is not a valid int"}  # the URL's own name


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
    assert missing.value.errors == {"user.email": "is required"}
    with pytest.raises(BindingError) as bad:
        bind(handler, {"user": {"name": "bob", "email": "e", "age": "old"}}, {})
    assert bad.value.errors == {"user.age": "'old' is not a valid int"}
    assert str(bad.value) == "parameter 'user.age': 'old' is not a valid int"


def test_dataclass_names_every_missing_and_bad_field_at_once() -> None:
    def handler(signup: Signup) -> None: ...

    with pytest.raises(BindingError) as error:
        bind(handler, {"signup": {"age": "old", "address": {"zip": "1"}}}, {})
    assert error.value.errors == {
        "signup.name": "is required",
        "signup.email": "is required",
        "signup.age": "'old' is not a valid int",
        "signup.address.city": "is required",
    }
    for name in error.value.errors:
        assert repr(name) in str(error.value)


def test_dataclass_default_factory_and_optional_fields_are_not_required() -> None:
    def handler(signup: Signup) -> None: ...

    (signup,) = bind(handler, {"signup": {"name": "a", "email": "e", "age": "3"}}, {}).values()
    assert signup == Signup(name="a", email="e", age=3, note=None, address=None, roles=[])
    form = decode_form(
        urlencode(
            [
                ("signup[name]", "a"),
                ("signup[email]", "e"),
                ("signup[age]", "3"),
                ("signup[note]", ""),
                ("signup[address][city]", "Paris"),
                ("signup[address][zip]", "75001"),
                ("signup[roles][]", "admin"),
            ]
        )
    )
    (signup,) = bind(handler, form, {}).values()
    assert signup == Signup("a", "e", 3, "", Address("Paris", "75001"), ["admin"])


def test_path_params_are_converted_and_override_the_query() -> None:
    def handler(user_id: int, slug: str, page: int = 1) -> None: ...

    values: dict[str, t.Any] = {**parse_qs("user_id=1&page=4"), "user_id": "17", "slug": "a-b"}
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


class ParamsAsDictOfStr(Recorder):
    async def handle_params(self, socket: Socket, params: dict[str, str]) -> None:  # type: ignore[override]
        self.got = {"params": params}


class ParamsAsDict(Recorder):
    async def handle_params(self, socket: Socket, params: dict) -> None:  # type: ignore[override, type-arg]
        self.got = {"params": params}


class ParamsAsDictOfAny(Recorder):
    async def handle_params(self, socket: Socket, params: dict[str, t.Any]) -> None:  # type: ignore[override]
        self.got = {"params": params}


class ParamsAsDictOfInt(Recorder):
    async def handle_params(self, socket: Socket, params: dict[str, int]) -> None:  # type: ignore[override]
        self.got = {"params": params}


class ParamsAsDictOfLists(Recorder):
    async def handle_params(self, socket: Socket, params: dict[str, list[str]]) -> None:  # type: ignore[override]
        self.got = {"params": params}


class ParamsAsMapping(Recorder):
    async def handle_params(self, socket: Socket, params: t.Mapping[str, t.Any]) -> None:  # type: ignore[override]
        self.got = {"params": params}


class ParamsAsAny(Recorder):
    async def handle_params(self, socket: Socket, params: t.Any) -> None:  # type: ignore[override]
        self.got = {"params": params}


class ParamsAsStr(Recorder):
    async def handle_params(self, socket: Socket, params: str) -> None:  # type: ignore[override]
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


JOB_URL = "http://h/jobs/abc-123?page=1&count=5&tags=a&tags=b&params=zzz"
JOB_PATH = {"job_id": "abc-123"}


async def test_params_injectable_as_params() -> None:
    view = ParamsAsParams()
    await call_handle_params(view, socket_for(JOB_URL), JOB_PATH)
    params = view.got["params"]
    assert isinstance(params, Params)
    assert params.get("page") == "1" and params.get("missing", "d") == "d"
    assert params.get("job_id") == "abc-123"
    assert params.getlist("tags") == ["a", "b"]
    assert params.getone("count") == "5"
    assert params.has("params") and not params.has("missing")
    assert params.raw() == {
        "page": ["1"],
        "count": ["5"],
        "tags": ["a", "b"],
        "params": ["zzz"],
        "job_id": "abc-123",
    }
    assert params.to_flat_dict() == {
        "page": "1",
        "count": "5",
        "tags": ["a", "b"],
        "params": "zzz",
        "job_id": "abc-123",
    }


FLAT = {"page": "1", "count": "5", "tags": ["a", "b"], "params": "zzz", "job_id": "abc-123"}


@pytest.mark.parametrize("view_class", [ParamsAsDict, ParamsAsDictOfAny, ParamsAsMapping])
async def test_params_injectable_as_a_flat_dict(view_class: type[Recorder]) -> None:
    view = view_class()
    await call_handle_params(view, socket_for(JOB_URL), JOB_PATH)
    assert view.got["params"] == FLAT
    assert type(view.got["params"]) is dict


async def test_params_injectable_as_dict_of_str() -> None:
    view = ParamsAsDictOfStr()
    await call_handle_params(view, socket_for("http://h/j/7?a=1&a=2&b=x"), {"id": 7})
    assert view.got["params"] == {"a": "1", "b": "x", "id": "7"}
    assert type(view.got["params"]) is dict


async def test_params_injectable_as_dict_of_int_is_converted() -> None:
    view = ParamsAsDictOfInt()
    await call_handle_params(view, socket_for("http://h/j/7?page=1&count=5"), {"id": "7"})
    assert view.got["params"] == {"page": 1, "count": 5, "id": 7}
    with pytest.raises(BindingError) as error:
        await call_handle_params(view, socket_for("http://h/?page=x&count=5"), {})
    assert error.value.errors == {"page": "'x' is not a valid int"}


async def test_params_injectable_as_dict_of_lists() -> None:
    view = ParamsAsDictOfLists()
    await call_handle_params(view, socket_for(JOB_URL), JOB_PATH)
    assert view.got["params"] == {
        "page": ["1"],
        "count": ["5"],
        "tags": ["a", "b"],
        "params": ["zzz"],
        "job_id": ["abc-123"],
    }


@pytest.mark.parametrize("view_class", [ParamsRaw, ParamsAsAny])
async def test_params_injectable_raw(view_class: type[Recorder]) -> None:
    view = view_class()
    await call_handle_params(view, socket_for("http://h/jobs/abc-123?page=5&a=1&a=2"), JOB_PATH)
    assert view.got["params"] == {"page": ["5"], "a": ["1", "2"], "job_id": "abc-123"}


async def test_params_injectable_with_another_annotation_is_a_developer_error() -> None:
    with pytest.raises(TypeError, match="'params' is annotated <class 'str'>"):
        await call_handle_params(ParamsAsStr(), socket_for("http://h/?params=x"), {})


async def test_legacy_handle_params_signature() -> None:
    view = LegacyParams()
    socket = socket_for("http://h/list?page=4&q=x&q=y")
    await call_handle_params(view, socket, {})
    assert view.got["socket"] is socket
    assert view.got["url"] == urlparse("http://h/list?page=4&q=x&q=y")
    assert view.got["params"] == {"page": ["4"], "q": ["x", "y"]}
    assert socket.context == {"page": 4}


async def test_legacy_handle_params_with_path_params() -> None:
    view = LegacyParams()
    socket = socket_for("http://h/jobs/abc-123?page=12")
    await call_handle_params(view, socket, JOB_PATH)
    assert view.got["params"] == {"page": ["12"], "job_id": "abc-123"}
    assert socket.context == {"page": 12}  # int(params.get("page", ["1"])[0])


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


class PayloadListsEvent(Recorder):
    async def handle_event(  # type: ignore[override]
        self, socket: Socket, payload: dict[str, list[str]]
    ) -> None:
        self.got = {"payload": payload}


class CollectionsEvent(Recorder):
    async def handle_event(  # type: ignore[override]
        self, socket: Socket, ids: set[int], at: tuple[int, int], tags: frozenset[str] = frozenset()
    ) -> None:
        self.got = {"ids": ids, "at": at, "tags": tags}


class SignupEvent(Recorder):
    async def handle_event(self, socket: Socket, signup: Signup) -> None:  # type: ignore[override]
        self.got = {"signup": signup}


class LegacyEvent(Recorder):
    async def handle_event(self, event, payload, socket):  # type: ignore[no-untyped-def, override]
        self.got = {"event": event, "payload": payload, "socket": socket}
        if event == "save":  # a form: names to lists of strings
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


async def test_annotated_payload_is_converted_to_its_annotation() -> None:
    view = PayloadEvent()
    form = form_event("save", [("user[name]", "ann"), ("tags[]", "a")], target="user[name]")
    await call_handle_event(view, socket_for("http://h/"), "save", form)
    assert view.got["payload"] == {
        "user": {"name": "ann"},
        "tags": ["a"],
        "_target": ["user", "name"],
    }
    lists = PayloadListsEvent()
    flat = form_event("save", [("name", "ann"), ("tags", "a"), ("tags", "b")], target="name")
    await call_handle_event(lists, socket_for("http://h/"), "save", flat)
    assert lists.got["payload"] == {"name": ["ann"], "tags": ["b"], "_target": ["name"]}
    with pytest.raises(BindingError) as error:
        await call_handle_event(lists, socket_for("http://h/"), "save", form)
    assert error.value.errors == {"payload.user": "expected a single value, got a mapping"}


async def test_event_values_bind_to_sets_and_tuples() -> None:
    view = CollectionsEvent()
    hook = {"type": "hook", "event": "h", "value": {"ids": ["1", 2, "1"], "at": [3, "4"]}}
    await call_handle_event(view, socket_for("http://h/"), "h", hook)
    assert view.got == {"ids": {1, 2}, "at": (3, 4), "tags": frozenset()}
    form = form_event("f", [("ids[]", "5"), ("at[]", "1"), ("at[]", "2"), ("tags", "x")])
    await call_handle_event(view, socket_for("http://h/"), "f", form)
    assert view.got == {"ids": {5}, "at": (1, 2), "tags": frozenset({"x"})}
    bad = {"type": "hook", "event": "h", "value": {"ids": [], "at": [1, 2, 3]}}
    with pytest.raises(BindingError) as error:
        await call_handle_event(view, socket_for("http://h/"), "h", bad)
    assert error.value.errors == {"at": "expected 2 values, got 3"}


async def test_an_empty_list_for_a_scalar_does_not_crash_the_view() -> None:
    hook = {"type": "hook", "event": "inc", "value": {"by": []}}
    with pytest.raises(BindingError) as error:
        await call_handle_event(TypedEvent(), socket_for("http://h/"), "inc", hook)
    assert error.value.errors == {"by": "has no value"}


async def test_a_form_with_several_bad_fields_names_them_all() -> None:
    form = form_event("save", [("signup[name]", ""), ("signup[age]", "x"), ("signup[note]", "")])
    with pytest.raises(BindingError) as error:
        await call_handle_event(SignupEvent(), socket_for("http://h/"), "save", form)
    assert error.value.errors == {
        "signup.email": "is required",
        "signup.age": "'x' is not a valid int",
    }


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
    click = {"type": "click", "event": "at", "value": {"x": 10, "y": 20, "value": ""}}
    await call_handle_event(view, socket, "at", click)
    assert view.got["payload"] == {"x": 10, "y": 20, "value": ""}  # numbers stay numbers
    await call_handle_event(view, socket, "inc", CLICK)
    assert view.got["payload"] == {"by": "2", "value": ""}


async def test_legacy_handle_event_signature_with_keys_and_hooks() -> None:
    view = LegacyEvent()
    socket = socket_for("http://h/")
    key = {"type": "keydown", "event": "k", "value": {"key": "Enter", "value": "typed"}}
    await call_handle_event(view, socket, "k", key)
    assert view.got["payload"] == {"key": "Enter", "value": "typed"}
    value = {"taskId": "task-1", "to": {"column": 2, "index": 0}, "ids": [1, 2]}
    await call_handle_event(
        view, socket, "moved", {"type": "hook", "event": "moved", "value": value}
    )
    assert view.got["payload"] == value
    assert type(view.got["payload"]["to"]) is dict and view.got["payload"]["taskId"] == "task-1"


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


# -- end to end, through the test client ---------------------------------------
{%- raw %}

TEMPLATES = {
    "layout.html": "<html><head><meta name='csrf-token' content='{{ csrf_token }}'></head>"
    "<body>{{ live_container }}</body></html>",
    "got.html": "<pre id='got'>{{ got }}</pre>"
    """<button id='at' phx-click='[["push",{"event":"at","value":{"x":10,"y":20}}]]'>"""
    "at</button>",
}


class GotLive(LiveView[dict[str, t.Any]]):
    """Shows, as JSON, what its callback received."""

    template_name = "got.html"

    async def mount(self, socket: Socket, session: dict[str, t.Any]) -> None:
        socket.context = {"got": ""}


class LegacyJobLive(GotLive):
    async def handle_params(self, url, params, socket):  # type: ignore[no-untyped-def]
        page = int(params.get("page", ["1"])[0])
        socket.context["got"] = json.dumps({**params, "page": page})

    async def handle_event(self, event, payload, socket):  # type: ignore[no-untyped-def]
        socket.context["got"] = json.dumps({"event": event, "payload": payload})


class RawLive(GotLive):
    async def handle_params(self, socket, params):  # type: ignore[no-untyped-def, override]
        socket.context["got"] = json.dumps(params)


class FlatLive(GotLive):
    async def handle_params(self, socket: Socket, params: dict) -> None:  # type: ignore[override, type-arg]
        socket.context["got"] = json.dumps(params)


class FlatAnyLive(GotLive):
    async def handle_params(self, socket: Socket, params: dict[str, t.Any]) -> None:  # type: ignore[override]
        socket.context["got"] = json.dumps(params)


class IntsLive(GotLive):
    async def handle_params(self, socket: Socket, params: dict[str, int]) -> None:  # type: ignore[override]
        socket.context["got"] = json.dumps(params)


class ParamsLive(GotLive):
    async def handle_params(self, socket: Socket, params: Params) -> None:  # type: ignore[override]
        socket.context["got"] = json.dumps(
            {
                "page": params.get("page"),
                "job": params.getone("job_id"),
                "tags": params.getlist("tags"),
                "has": params.has("tags"),
                "items": params.items(),
                "raw": params.raw(),
                "flat": params.to_flat_dict(),
            }
        )


@pytest.fixture
def app() -> Starlette:
    routes = LiveRoutes(LiveEnvironment(loader=DictLoader(TEMPLATES)), "secret")
    routes.add("/jobs/{job_id}", LegacyJobLive)
    routes.add("/raw/{job_id}", RawLive)
    routes.add("/flat/{job_id}", FlatLive)
    routes.add("/flat-any/{job_id}", FlatAnyLive)
    routes.add("/ints/{n:int}", IntsLive)
    routes.add("/params/{job_id}", ParamsLive)
    return Starlette(
        routes=routes.routes, middleware=[Middleware(SessionMiddleware, secret_key="secret")]
    )


async def got(view: t.Any) -> t.Any:
    return json.loads(view.text("#got"))


async def test_live_legacy_handle_params_gets_path_params(app: Starlette) -> None:
    async with live(app, "/jobs/abc-123?page=12&tag=a&tag=b", lifespan=False) as view:
        assert await got(view) == {
            "job_id": "abc-123",
            "page": 12,
            "tag": ["a", "b"],
        }
        await view.patch("/jobs/abc-123?page=5")
        assert await got(view) == {"job_id": "abc-123", "page": 5}


async def test_live_legacy_handle_event_gets_values_as_sent(app: Starlette) -> None:
    async with live(app, "/jobs/abc-123", lifespan=False) as view:
        await view.click("#at")
        assert await got(view) == {"event": "at", "payload": {"x": 10, "y": 20, "value": ""}}
        value = {"taskId": "task-1", "to": {"column": 2, "index": 0}, "ids": [1, 2]}
        await view.hook("moved", value)
        assert await got(view) == {"event": "moved", "payload": value}


async def test_live_params_raw(app: Starlette) -> None:
    async with live(app, "/raw/abc-123?page=5&tags=a&tags=b", lifespan=False) as view:
        assert await got(view) == {"page": ["5"], "tags": ["a", "b"], "job_id": "abc-123"}


@pytest.mark.parametrize("path", ["/flat", "/flat-any"])
async def test_live_params_flat(app: Starlette, path: str) -> None:
    async with live(app, f"{path}/abc-123?page=1&tags=a&tags=b", lifespan=False) as view:
        assert await got(view) == {"page": "1", "tags": ["a", "b"], "job_id": "abc-123"}


async def test_live_params_converted(app: Starlette) -> None:
    async with live(app, "/ints/7?page=1&count=5", lifespan=False) as view:
        assert await got(view) == {"page": 1, "count": 5, "n": 7}
        redirect = await view.patch("/ints/7?page=2&count=x")
        # Not bound: the browser loads the URL, and the page names the parameter.
        assert redirect is not None and redirect.kind == "redirect"
        with pytest.raises(HTTPError) as error:
            await view.follow_redirect()
        assert error.value.status_code == 400
        assert "&#39;count&#39;: &#39;x&#39; is not a valid int" in error.value.text


async def test_live_params_as_params(app: Starlette) -> None:
    async with live(app, "/params/abc-123?page=3&tags=a&tags=b", lifespan=False) as view:
        assert await got(view) == {
            "page": "3",
            "job": "abc-123",
            "tags": ["a", "b"],
            "has": True,
            "items": [["page", "3"], ["tags", "a"], ["job_id", "abc-123"]],
            "raw": {"page": ["3"], "tags": ["a", "b"], "job_id": "abc-123"},
            "flat": {"page": "3", "tags": ["a", "b"], "job_id": "abc-123"},
        }
{%- endraw %}
