"""What ``make gen-live`` is asked for, read and checked: a resource's names and its fields.

``Product products name:str price:decimal status:enum:draft,live
category_id:references:categories`` is a resource ``Product`` stored in the
table ``products``. Every refusal is a ``SpecError`` whose message says what
to type instead.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

KINDS = ("str", "text", "int", "decimal", "bool", "date", "datetime", "enum", "references")
CLASS_NAME = re.compile(r"[A-Z][a-zA-Z0-9]*")
SNAKE = re.compile(r"[a-z][a-z0-9_]*")
CHOICE = re.compile(r"[a-z][a-z0-9_]{0,19}")
# Names a field may not take: the model's own columns, SQLAlchemy's or pydantic's, and
# the types the generated code names (a field ``date`` would hide the type ``date``).
RESERVED_FIELDS = frozenset(
    {"id", "created_at", "updated_at", "metadata", "registry", "date", "datetime", "str", "int",
     "bool", "any"}
) | {name for name in dir(BaseModel) if not name.startswith("_")}  # fmt: skip
# Class names the generated modules import beside the model's own.
RESERVED_NAMES = frozenset(
    {"Action", "Any", "BaseModel", "Base", "Decimal", "Errors", "Field", "Page", "Paging", "Select"}
)
# Identifiers (``ix_<plural>_<field>``) within PostgreSQL's 63 characters, lines within 100.
MAX_PLURAL = 28
MAX_FIELD = 30
# URLs and names of the app a resource may not take (its module and URL are its plural);
# any other module or package of the app is refused too.
RESERVED_PLURALS = frozenset(
    {"assets", "crud", "gen", "live", "media", "static", "templates", "tests", "views"}
)
WRITTEN_BY = re.compile(r'make gen-live ARGS="([^"]*)"')  # in a module's docstring


class SpecError(ValueError):
    """The command asked for something that cannot be written."""


@dataclass(frozen=True)
class Field:
    """One field: ``status:enum:draft,live``, ``category_id:references:categories``."""

    name: str
    kind: str
    choices: tuple[str, ...] = ()  # an enum's
    target: Resource | None = None  # what a reference points at

    @property
    def key(self) -> str:
        """Its key in a row: a reference's is the name it shows (``category``), others its name."""
        return self.name.removesuffix("_id") if self.kind == "references" else self.name

    @property
    def label(self) -> str:
        return self.key.replace("_", " ").capitalize()

    @property
    def listed(self) -> bool:
        """Long text is on the record's page, not in the list."""
        return self.kind != "text"

    @property
    def expected(self) -> str:
        """An enum's choices as its form error lists them: 'draft', 'live' or 'archived'."""
        quoted = [f"'{choice}'" for choice in self.choices]
        return " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)

    def enum_class(self, resource: Resource) -> str:
        return resource.name + "".join(part.capitalize() for part in self.name.split("_"))


@dataclass(frozen=True)
class Resource:
    name: str  # the model's class: Product
    plural: str  # its table, module and URL: products
    fields: tuple[Field, ...]

    @property
    def args(self) -> str:
        """The ``make gen-live`` arguments that write it."""
        return " ".join([self.name, self.plural, *(_arg(field) for field in self.fields)])

    @property
    def singular(self) -> str:
        """``LineItem`` → ``line_item``: its variables and its templates' ids."""
        return re.sub(r"(?<!^)(?=[A-Z])", "_", self.name).lower()

    @property
    def human(self) -> str:
        return self.singular.replace("_", " ")

    @property
    def humans(self) -> str:
        return self.plural.replace("_", " ")

    @property
    def path(self) -> str:
        return "/" + self.plural.replace("_", "-")

    @property
    def title(self) -> Field:
        """The field a record is called by: its first ``str`` one."""
        return next(field for field in self.fields if field.kind == "str")

    @property
    def references(self) -> tuple[Field, ...]:
        return tuple(field for field in self.fields if field.kind == "references")

    @property
    def enum_names(self) -> list[str]:
        return sorted(f.enum_class(self) for f in self.fields if f.kind == "enum")

    @property
    def model_names(self) -> list[str]:
        """What its context module imports from ``models``: its classes, and those it refers to."""
        enums = [f.enum_class(self) for f in self.fields if f.kind == "enum"]
        targets = [f.target.name for f in self.fields if f.target is not None]
        return sorted({self.name, *enums, *targets})

    def has(self, *kinds: str) -> bool:
        return any(field.kind in kinds for field in self.fields)


def _arg(field: Field) -> str:
    if field.kind == "enum":
        return f"{field.name}:enum:{','.join(field.choices)}"
    if field.target is not None:
        return f"{field.name}:references:{field.target.plural}"
    return f"{field.name}:{field.kind}"


def parse(args: list[str], package: Path) -> Resource:
    """The resource ``args`` asks for, in the app whose package directory is ``package``."""
    if len(args) < 3:
        raise SpecError(
            'usage: make gen-live ARGS="Product products name:str price:decimal ..." '
            "(a class name, a plural, then at least one field)"
        )
    name, plural, *specs = args
    if not CLASS_NAME.fullmatch(name) or keyword.iskeyword(name) or len(name) > MAX_PLURAL:
        raise SpecError(f"{name!r}: the resource's name is a class name, like Product or LineItem")
    if name in RESERVED_NAMES:
        raise SpecError(f"{name!r} is a name the generated code uses itself: choose another")
    if not SNAKE.fullmatch(plural) or keyword.iskeyword(plural) or len(plural) > MAX_PLURAL:
        raise SpecError(
            f"{plural!r}: the plural is lowercase letters, digits and '_' (at most"
            f" {MAX_PLURAL}), like products"
        )
    if plural in RESERVED_PLURALS or _taken(plural, package):
        raise SpecError(f"{plural!r} is taken by the app itself: choose another plural")
    fields: list[Field] = []
    for spec in specs:
        field = _field(spec, package)
        if any(other.name == field.name or other.key == field.key for other in fields):
            raise SpecError(f"{spec!r}: the field {field.key!r} is given twice")
        if field.target and any(other.target == field.target for other in fields):
            raise SpecError(f"{spec!r}: a resource may refer to {field.target.plural!r} once")
        fields.append(field)
    if not any(field.kind == "str" for field in fields):
        raise SpecError("a resource needs a str field: its first one is what a record is called")
    return Resource(name, plural, tuple(fields))


def _taken(plural: str, package: Path) -> bool:
    """Whether the app has a module, package or view of this name that gen-live did not write."""
    module = package / f"{plural}.py"
    if module.is_file():
        return WRITTEN_BY.search(module.read_text()) is None
    return any(path.exists() for path in (package / plural, package / "views" / f"{plural}.py"))


def _field(spec: str, package: Path) -> Field:
    name, _, rest = spec.partition(":")
    kind, _, option = rest.partition(":")
    if not SNAKE.fullmatch(name) or keyword.iskeyword(name) or len(name) > MAX_FIELD:
        raise SpecError(
            f"{spec!r}: a field is name:type, its name in lowercase (at most {MAX_FIELD}),"
            " like price:decimal"
        )
    if name in RESERVED_FIELDS or name.startswith("model_"):
        raise SpecError(f"{spec!r}: {name!r} is reserved (id, created_at… are every model's own)")
    if kind not in KINDS:
        raise SpecError(f"{spec!r}: unknown type {kind!r}; the types are {', '.join(KINDS)}")
    if kind == "enum":
        choices = tuple(option.split(",")) if option else ()
        if not choices or not all(CHOICE.fullmatch(choice) for choice in choices):
            raise SpecError(
                f"{spec!r}: an enum lists its choices in lowercase, like status:enum:draft,live"
            )
        if len(set(choices)) != len(choices):
            raise SpecError(f"{spec!r}: a choice is given twice")
        return Field(name, kind, choices=choices)
    if kind == "references":
        if not name.endswith("_id") or name == "_id":
            raise SpecError(f"{spec!r}: a reference's name ends in _id, like category_id")
        return Field(name, kind, target=written(option, package))
    if option:
        raise SpecError(f"{spec!r}: only enum and references take a third part")
    return Field(name, kind)


def written(plural: str, package: Path) -> Resource:
    """The resource ``make gen-live`` wrote as ``plural``, read back from its module."""
    module = package / f"{plural}.py" if SNAKE.fullmatch(plural) else None
    found = WRITTEN_BY.search(module.read_text()) if module and module.is_file() else None
    if found is None:
        raise SpecError(
            f"references:{plural}: there is no resource {plural!r} written by make gen-live "
            "(generate it first)"
        )
    return parse(found.group(1).split(), package)
