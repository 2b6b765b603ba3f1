"""Typed parameter binding: a handler's signature decides what it receives.

``handle_params(self, socket, page: int = 1)`` gets ``page`` from the URL,
converted to ``int``; ``handle_event(self, socket, user: UserForm)`` gets a
dataclass built from the form. Reserved names (``socket``, ``url``,
``params``, ``event``, ``payload``) are injected and win over same-named
values. A value that cannot be converted raises ``BindingError``, which the
runtime turns into an error reply for that one message.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
import types
import typing as t

Inject = t.Callable[[t.Any], t.Any]
"""An injectable: given the parameter's annotation, returns the value to pass."""

_EMPTY = inspect.Parameter.empty
_TRUE = frozenset({"true", "1", "on", "yes"})
_FALSE = frozenset({"false", "0", "off", "no", ""})


class BindingError(ValueError):
    """A parameter was missing or could not be converted to its annotated type."""


@dataclasses.dataclass(frozen=True)
class _Parameter:
    name: str
    annotation: t.Any
    default: t.Any
    variadic: bool


@functools.lru_cache(maxsize=1024)
def _parameters(func: t.Callable[..., t.Any]) -> tuple[_Parameter, ...]:
    hints = t.get_type_hints(func)
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


def bind(
    func: t.Callable[..., t.Any], values: t.Mapping[str, t.Any], inject: t.Mapping[str, Inject]
) -> dict[str, t.Any]:
    """Keyword arguments for ``func`` from ``values`` (URL or event) and injectables."""
    target = getattr(func, "__func__", func)
    parameters = (
        _parameters(target)[1:] if target is not func else _parameters(target)
    )  # drop a bound self
    kwargs: dict[str, t.Any] = {}
    for parameter in parameters:
        name, annotation = parameter.name, parameter.annotation
        if parameter.variadic:
            taken = {p.name for p in parameters} | inject.keys()
            kwargs.update(
                (key, value)
                for key, value in values.items()
                if key not in taken and key.isidentifier()
            )
        elif name in inject:
            kwargs[name] = inject[name](annotation)
        elif _is_dataclass_type(annotation):
            nested = values.get(name)
            source = nested if isinstance(nested, dict) else values
            kwargs[name] = _build_dataclass(annotation, source, name)
        elif name in values:
            kwargs[name] = convert(values[name], annotation, name)
        elif parameter.default is not _EMPTY:
            kwargs[name] = parameter.default
        elif _accepts_none(annotation):
            kwargs[name] = None
        else:
            raise BindingError(f"missing required parameter {name!r}")
    return kwargs


def convert(value: t.Any, annotation: t.Any, name: str) -> t.Any:
    """Convert a URL/form/JSON value to ``annotation``; raise ``BindingError`` if it can't be."""
    if annotation is _EMPTY or annotation is t.Any:
        return value[0] if isinstance(value, list) and len(value) == 1 else value
    origin = t.get_origin(annotation)
    if origin is t.Union or origin is types.UnionType:
        return _convert_union(value, t.get_args(annotation), name)
    if origin is list or annotation is list:
        (item_type,) = t.get_args(annotation) or (_EMPTY,)
        items = value if isinstance(value, list) else [value]
        return [convert(item, item_type, name) for item in items]
    if origin is t.Literal:
        scalar = _scalar(value, name)
        for option in t.get_args(annotation):
            if scalar == option or str(option) == str(scalar):
                return option
        raise BindingError(f"parameter {name!r}: {scalar!r} is not one of {t.get_args(annotation)}")
    if origin is dict or annotation is dict:
        if not isinstance(value, dict):
            raise BindingError(f"parameter {name!r}: expected a mapping")
        return value
    if _is_dataclass_type(annotation):
        if not isinstance(value, dict):
            raise BindingError(f"parameter {name!r}: expected a mapping")
        return _build_dataclass(annotation, value, name)
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
            return value if isinstance(value, str) else str(value)
        if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
            for member in annotation:
                if str(member.value) == str(value) or member.name == value:
                    return member
            raise ValueError(value)
        return annotation(value)
    except (TypeError, ValueError) as error:
        kind = getattr(annotation, "__name__", str(annotation))
        raise BindingError(f"parameter {name!r}: {value!r} is not a valid {kind}") from error


def _convert_union(value: t.Any, options: tuple[t.Any, ...], name: str) -> t.Any:
    types_ = [option for option in options if option is not type(None)]
    if len(types_) < len(options) and (
        value is None or value == "" or value == [""] or value == []
    ):
        return None
    errors = []
    for option in types_:
        try:
            return convert(value, option, name)
        except BindingError as error:
            errors.append(str(error))
    raise BindingError("; ".join(errors))


def _scalar(value: t.Any, name: str) -> t.Any:
    if isinstance(value, list):
        if not value:
            raise BindingError(f"parameter {name!r} has no value")
        return value[0]
    if isinstance(value, dict):
        raise BindingError(f"parameter {name!r}: expected a single value, got a mapping")
    return value


@functools.lru_cache(maxsize=256)
def _dataclass_fields(cls: type) -> tuple[tuple[dataclasses.Field[t.Any], t.Any], ...]:
    """The init fields of a dataclass with their resolved types (once per class)."""
    hints = t.get_type_hints(cls)
    return tuple(
        (field, hints.get(field.name, _EMPTY)) for field in dataclasses.fields(cls) if field.init
    )


def _build_dataclass(cls: type, source: t.Mapping[str, t.Any], name: str) -> t.Any:
    kwargs = {}
    for field, field_type in _dataclass_fields(cls):
        if field.name in source:
            kwargs[field.name] = convert(source[field.name], field_type, f"{name}.{field.name}")
        elif field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
            if not _accepts_none(field_type):
                raise BindingError(f"missing required parameter '{name}.{field.name}'")
            kwargs[field.name] = None
    return cls(**kwargs)


def _is_dataclass_type(annotation: t.Any) -> bool:
    return isinstance(annotation, type) and dataclasses.is_dataclass(annotation)


def _accepts_none(annotation: t.Any) -> bool:
    origin = t.get_origin(annotation)
    return (origin is t.Union or origin is types.UnionType) and type(None) in t.get_args(annotation)
