"""Typed parameter binding: a handler's signature decides what it receives.

``handle_params(self, socket, page: int = 1)`` gets ``page`` from the URL,
converted to ``int``; ``handle_event(self, socket, user: UserForm)`` gets a
dataclass built from the form. Reserved names (``socket``, ``url``,
``params``, ``event``, ``payload``) are injected and win over same-named
values. Values that cannot be converted raise one ``BindingError`` naming
every offending parameter, which the runtime turns into an error reply for
that one message.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import reprlib
import types
import typing as t

from .params import flat

Inject = t.Callable[[t.Any], t.Any]
"""An injectable: given the parameter's annotation, returns the value to pass."""

_EMPTY = inspect.Parameter.empty
_TRUE = frozenset({"true", "1", "on", "yes"})
_FALSE = frozenset({"false", "0", "off", "no", ""})
_SHOWN = 100
"""At most this many characters of a client's value go into an error message."""

_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = _SHOWN


class BindingError(ValueError):
    """Parameters were missing or could not be converted to their annotated types.

    ``errors`` maps each offending parameter to a short message a view can
    show next to its field: ``{"user.age": "'old' is not a valid int",
    "user.email": "is required"}``. Names are the client's: a nested form
    field is dotted (``user.age``), a dataclass bound from flat URL values is
    not (``page``). ``str(error)`` puts them all on one line; client values in
    messages are cut to about 100 characters.
    """

    def __init__(self, errors: t.Mapping[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__(
            "; ".join(f"parameter {name!r}: {message}" for name, message in self.errors.items())
        )


@dataclasses.dataclass(frozen=True)
class _Parameter:
    name: str
    annotation: t.Any
    default: t.Any
    variadic: bool


@functools.lru_cache(maxsize=1024)
def _parameters(func: t.Callable[..., t.Any]) -> tuple[_Parameter, ...]:
    hints = _hints(func)
    result = []
    for parameter in inspect.signature(func).parameters.values():
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        result.append(
            _Parameter(
                parameter.name,
                hints.get(parameter.name, _EMPTY),
                parameter.default,
                parameter.kind is inspect.Parameter.VAR_KEYWORD,
            )
        )
    return tuple(result)


# Injected whatever their annotation says: a name imported only under
# ``TYPE_CHECKING`` may annotate them.
_TYPE_ONLY = frozenset({"socket", "url", "event", "return"})


def _hints(func: t.Callable[..., t.Any]) -> dict[str, t.Any]:
    """``func``'s resolved annotations; a precise ``TypeError`` for one that does not resolve."""
    try:
        return t.get_type_hints(func)
    except NameError:
        pass  # resolve one by one, to skip those nobody needs
    hints: dict[str, t.Any] = {}
    for name, annotation in inspect.get_annotations(func).items():
        try:
            hints[name] = (
                eval(annotation, getattr(func, "__globals__", {}))  # noqa: S307 -- as typing does
                if isinstance(annotation, str)
                else annotation
            )
        except NameError as exc:
            if name in _TYPE_ONLY:
                continue
            raise TypeError(
                f"{func.__qualname__}: the annotation {annotation!r} of {name!r} does not "
                f"resolve ({exc}); import its names at run time, not under TYPE_CHECKING"
            ) from exc
    return hints


def bind(
    func: t.Callable[..., t.Any], values: t.Mapping[str, t.Any], inject: t.Mapping[str, Inject]
) -> dict[str, t.Any]:
    """Keyword arguments for ``func`` from ``values`` (URL or event) and injectables."""
    target = getattr(func, "__func__", func)
    parameters = (
        _parameters(target)[1:] if target is not func else _parameters(target)
    )  # drop a bound self
    kwargs: dict[str, t.Any] = {}
    errors: dict[str, str] = {}
    for parameter in parameters:
        if parameter.variadic:
            taken = {p.name for p in parameters} | inject.keys()
            kwargs.update(
                (key, value)
                for key, value in values.items()
                if key not in taken and key.isidentifier()
            )
            continue
        try:
            kwargs[parameter.name] = _argument(parameter, values, inject)
        except BindingError as error:
            errors.update(error.errors)
    if errors:
        raise BindingError(errors)
    return kwargs


def _argument(
    parameter: _Parameter, values: t.Mapping[str, t.Any], inject: t.Mapping[str, Inject]
) -> t.Any:
    """One argument: injected, a dataclass group, a converted value, the default, or ``None``."""
    name, annotation = parameter.name, parameter.annotation
    if name in inject:
        return inject[name](annotation)
    if _is_dataclass_type(annotation):
        nested = values.get(name)
        if isinstance(nested, dict):
            return _build_dataclass(annotation, nested, f"{name}.")
        return _build_dataclass(annotation, values, "")
    if name in values:
        return convert(values[name], annotation, name)
    if parameter.default is not _EMPTY:
        return parameter.default
    if _accepts_none(annotation):
        return None
    raise BindingError({name: "is required"})


def convert(value: t.Any, annotation: t.Any, name: str) -> t.Any:
    """Convert a URL/form/JSON value to ``annotation``; raise ``BindingError`` if it can't be.

    A scalar takes the first of several values; a collection takes every
    value, or the one value given. ``name`` names the value in errors.
    """
    if annotation is _EMPTY or annotation is t.Any:
        return flat(value)
    origin = t.get_origin(annotation) or annotation
    args = t.get_args(annotation)
    if origin is t.Union or origin is types.UnionType:
        return _convert_union(value, args, name)
    if origin in (list, set, frozenset):
        items = _items(value)
        if args:
            items = [convert(item, args[0], name) for item in items]
        try:
            return origin(items)
        except TypeError as error:  # a set of unhashable values
            raise BindingError({name: f"{_show(value)} cannot be a {origin.__name__}"}) from error
    if origin is tuple:
        return _convert_tuple(_items(value), args, name)
    if origin is t.Literal:
        scalar = _scalar(value, name)
        for option in args:
            if scalar == option or str(option) == str(scalar):
                return option
        options = ", ".join(map(repr, args))
        raise BindingError({name: f"{_show(scalar)} is not one of {options}"})
    if origin is dict:
        return _convert_dict(value, args, name)
    if _is_dataclass_type(annotation):
        if not isinstance(value, dict):
            raise BindingError({name: "expected a mapping"})
        return _build_dataclass(annotation, value, f"{name}.")
    return _convert_scalar(_scalar(value, name), annotation, name)


def _convert_scalar(value: t.Any, annotation: t.Any, name: str) -> t.Any:
    try:
        if annotation is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE or text in _FALSE:
                return text in _TRUE
            raise ValueError(value)
        if annotation is int:
            if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if annotation is str:
            return str(value)
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            for member in annotation:
                if str(member.value) == str(value) or member.name == value:
                    return member
            raise ValueError(value)
        return annotation(value)
    except (TypeError, ValueError, ArithmeticError) as error:  # Decimal raises ArithmeticError
        kind = getattr(annotation, "__name__", str(annotation))
        raise BindingError({name: f"{_show(value)} is not a valid {kind}"}) from error


def _convert_union(value: t.Any, options: tuple[t.Any, ...], name: str) -> t.Any:
    """The first option that converts; a blank value is ``None`` if allowed and not a ``str``."""
    types_ = [option for option in options if option is not type(None)]
    blank = value == "" or value == [""]
    if len(types_) < len(options) and (
        value is None or value == [] or (blank and str not in types_)
    ):
        return None
    if len(types_) == 1:  # Optional[X]: X's own errors, nested names kept
        return convert(value, types_[0], name)
    messages: list[str] = []
    for option in types_:
        try:
            return convert(value, option, name)
        except BindingError as error:
            messages.extend(error.errors.values())
    raise BindingError({name: " or ".join(dict.fromkeys(messages))})  # without repeats


def _convert_tuple(items: list[t.Any], args: tuple[t.Any, ...], name: str) -> tuple[t.Any, ...]:
    if not args:
        return tuple(items)
    if len(args) == 2 and args[1] is Ellipsis:
        return tuple(convert(item, args[0], name) for item in items)
    if len(items) != len(args):
        raise BindingError({name: f"expected {len(args)} values, got {len(items)}"})
    return tuple(convert(item, arg, name) for item, arg in zip(items, args, strict=True))


def _convert_dict(value: t.Any, args: tuple[t.Any, ...], name: str) -> dict[t.Any, t.Any]:
    if not isinstance(value, dict):
        raise BindingError({name: "expected a mapping"})
    if not args or args[1] is t.Any:
        return dict(value)
    key_type, value_type = args
    return {
        convert(key, key_type, name): convert(item, value_type, f"{name}.{_cut(key)}")
        for key, item in value.items()
    }


def _items(value: t.Any) -> list[t.Any]:
    """Every value of a collection: a list as it is, a single value as a one-item list."""
    return value if isinstance(value, list) else [value]


def _scalar(value: t.Any, name: str) -> t.Any:
    if isinstance(value, list):
        value = value[0] if value else None
    if value is None:  # no value, or JSON null
        raise BindingError({name: "has no value"})
    if isinstance(value, dict):
        raise BindingError({name: "expected a single value, got a mapping"})
    return value


@functools.lru_cache(maxsize=256)
def _dataclass_fields(cls: type) -> tuple[tuple[dataclasses.Field[t.Any], t.Any], ...]:
    """The init fields of a dataclass with their resolved types (once per class)."""
    hints = t.get_type_hints(cls)
    return tuple(
        (field, hints.get(field.name, _EMPTY)) for field in dataclasses.fields(cls) if field.init
    )


def _build_dataclass(cls: type, source: t.Mapping[str, t.Any], prefix: str) -> t.Any:
    """``cls`` from the values in ``source``; errors name every bad field as ``prefix + field``."""
    kwargs: dict[str, t.Any] = {}
    errors: dict[str, str] = {}
    for field, field_type in _dataclass_fields(cls):
        path = prefix + field.name
        if field.name in source:
            try:
                kwargs[field.name] = convert(source[field.name], field_type, path)
            except BindingError as error:
                errors.update(error.errors)
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            if _accepts_none(field_type):
                kwargs[field.name] = None
            else:
                errors[path] = "is required"
    if errors:
        raise BindingError(errors)
    return cls(**kwargs)


def _is_dataclass_type(annotation: t.Any) -> bool:
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


def _accepts_none(annotation: t.Any) -> bool:
    origin = t.get_origin(annotation)
    return (origin is t.Union or origin is types.UnionType) and type(None) in t.get_args(annotation)


def _show(value: t.Any) -> str:
    """A client's value for an error message: its repr, cut to about ``_SHOWN`` characters."""
    return _cut(_REPR.repr(value))


def _cut(value: object) -> str:
    """``value`` as a string of at most ``_SHOWN`` characters."""
    text = str(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."
