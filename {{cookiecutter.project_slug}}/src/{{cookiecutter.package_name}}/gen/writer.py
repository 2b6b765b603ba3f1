"""Writing a resource: its files from ``templates/``, and its lines in the app's own files.

The templates are Jinja with delimiters of their own (``{= =}``, ``<% %>``,
``<# #>``), so the page templates they write keep their ``{{ }}`` and
``{% %}`` as they are. The app's files get their new lines at marked spots:
imports in sorted place, components and routes above ``app.py``'s markers, a nav link above
``layout.html``'s, the model at the end of ``models.py`` between two
comments (what ``--force`` replaces). Nothing is written until every check
has passed, and no file is overwritten without ``--force``.
"""

from __future__ import annotations

import re
import secrets
import subprocess
import sys
import typing as t
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined

from .spec import Resource, SpecError

ROUTES_MARKER = "    # make gen-live adds its routes above this line\n"
COMPONENTS_MARKER = "    # make gen-live adds its components above this line\n"
NAV_MARKER = "        {# make gen-live adds its links above this line #}\n"
SHARED = {
    "crud.py.jinja": "src/{package}/crud.py",
    "field.html": "src/{package}/templates/field.html",
}
FILES = {
    "context.py.jinja": "src/{package}/{plural}.py",
    "views_init.py.jinja": "src/{package}/views/{plural}/__init__.py",
    "views_index.py.jinja": "src/{package}/views/{plural}/index.py",
    "views_show.py.jinja": "src/{package}/views/{plural}/show.py",
    "views_form.py.jinja": "src/{package}/views/{plural}/form.py",
    "views_form_component.py.jinja": "src/{package}/views/{plural}/form_component.py",
    "index.html": "src/{package}/templates/{plural}/index.html",
    "show.html": "src/{package}/templates/{plural}/show.html",
    "form.html": "src/{package}/templates/{plural}/form.html",
    "form_component.html": "src/{package}/templates/{plural}/form_component.html",
    "test.py.jinja": "tests/app/test_{plural}.py",
    "test_browser.py.jinja": "tests/app/test_browser_{plural}.py",
}
REVISION = re.compile(r'^revision: str = "([^"]+)"', re.MULTILINE)
DOWN_REVISION = re.compile(r'^down_revision: [^=]+= "([^"]+)"', re.MULTILINE)
STAMP = "%Y%m%d%H%M%S"  # a generated revision starts with its time (UTC), as Phoenix's migrations
GENERATED = re.compile(r"(\d{14})_[0-9a-f]{4}")


def environment() -> Environment:
    return Environment(
        loader=PackageLoader(__package__ or __name__, "templates"),
        variable_start_string="{=",
        variable_end_string="=}",
        block_start_string="<%",
        block_end_string="%>",
        comment_start_string="<#",
        comment_end_string="#>",
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        undefined=StrictUndefined,
    )


@dataclass
class Plan:
    """Every file a resource writes or changes, with its new text; ``write`` makes it so."""

    root: Path
    files: dict[Path, str] = field(default_factory=dict)

    def write(self) -> list[Path]:
        """Write every file; then ruff formats the new Python files and sorts every import."""
        for path, text in self.files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        python = [str(path) for path in self.files if path.suffix == ".py"]
        new = [path for path in python if not path.endswith(("/models.py", "/app.py"))]
        ruff = [sys.executable, "-m", "ruff"]
        quiet = ["--quiet", "--no-cache"]
        sort = ["check", *quiet, "--fix", "--select=I", *python]
        for command in (["format", *quiet, *new], sort):
            if subprocess.run([*ruff, *command], cwd=self.root).returncode:
                print(f"ruff {command[0]} failed on these files: see make lint", file=sys.stderr)
        return [path.relative_to(self.root) for path in self.files]


def plan(resource: Resource, root: Path, package: str, force: bool = False) -> Plan:
    """What writing ``resource`` into the project at ``root`` changes; SpecError if it may not."""
    where = {"package": package, "plural": resource.plural}
    source = root / "src" / package
    models_path = source / "models.py"
    models = models_path.read_text()
    ours = _block(models, resource)
    classes = [
        resource.name,
        *(f.enum_class(resource) for f in resource.fields if f.kind == "enum"),
    ]
    taken = [
        name for name in classes if re.search(rf"^class {name}\b", _without(models, ours), re.M)
    ]
    if taken or re.search(rf'__tablename__ = "{resource.plural}"', _without(models, ours)):
        raise SpecError(f"{', '.join(taken) or resource.plural} is already in models.py")
    paths = {template: path.format(**where) for template, path in FILES.items()}
    existing = [path for path in paths.values() if (root / path).exists()]
    if (existing or ours) and not force:
        found = ", ".join(existing) or "models.py"
        raise SpecError(f"{resource.name} exists already ({found}): --force writes its files again")
    migration, revision, parent = _migration(resource, root)
    paths["migration.py.jinja"] = str(migration.relative_to(root))
    env = environment()
    values = {"r": resource, "package": package, "revision": revision, "down_revision": parent}
    result = Plan(root)
    for template, path in SHARED.items():
        target = root / path.format(**where)
        if not target.exists():  # shared by every resource: --force leaves it
            result.files[target] = env.get_template(template).render(values)
    for template, path in paths.items():
        result.files[root / path] = env.get_template(template).render(values)
    block = env.get_template("model.py.jinja").render(values)
    result.files[models_path] = _add_model(models, ours, block, resource)
    app = source / "app.py"
    wiring = env.get_template("app.py.jinja").render(values)
    result.files[app] = _add_to_app(app.read_text(), wiring)
    layout = source / "templates" / "layout.html"
    result.files[layout] = _add_nav(layout.read_text(), resource)
    return result


# -- models.py ------------------------------------------------------------------------


def _start(resource: Resource) -> str:
    return f"# -- {resource.plural}: written by make gen-live --\n"


def _end(resource: Resource) -> str:
    return f"# -- end of {resource.plural} --\n"


def _block(models: str, resource: Resource) -> str:
    """The model block an earlier run wrote for ``resource``, or ""."""
    start, end = models.find(_start(resource)), models.find(_end(resource))
    return models[start : end + len(_end(resource))] if 0 <= start < end else ""


def _without(models: str, block: str) -> str:
    return models.replace(block, "") if block else models


def _add_model(models: str, ours: str, block: str, resource: Resource) -> str:
    imports = {
        "sqlalchemy": {"ForeignKey"} if resource.references else set(),
        "decimal": {"Decimal"} if resource.has("decimal") else set(),
        "enum": {"StrEnum"} if resource.has("enum") else set(),
        "datetime": {"datetime"},
    }
    names = set(re.findall(r"\b([A-Za-z_]+)\(", block))  # what the block calls
    imports["sqlalchemy"] |= names & {
        "Boolean", "CheckConstraint", "Date", "DateTime", "Index", "Integer", "Numeric",
        "String", "Text", "false", "func",
    }  # fmt: skip
    if resource.has("date"):
        imports["datetime"].add("date")
    if ours:
        text = models.replace(ours, block.lstrip("\n"))
    else:
        text = models.rstrip("\n") + "\n" + block
    for module, wanted in imports.items():
        if wanted:
            text = merge_import(text, module, wanted)
    return text


def _sort_key(name: str) -> tuple[int, str]:
    """Ruff's order within an import: constants, then classes, then the rest."""
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[0].isupper() else 2
    return kind, name


def merge_import(source: str, module: str, names: set[str]) -> str:
    """``source`` importing ``names`` from ``module`` too, the way ruff's isort writes it."""
    pattern = re.compile(rf"^from {re.escape(module)} import (\(\n(?:.*\n)*?\)|.*)$", re.M)
    found = pattern.search(source)
    if found is None:
        return _insert_import(source, module, sorted(names, key=_sort_key))
    present = {name.strip() for name in found.group(1).strip("()\n").split(",") if name.strip()}
    merged = sorted(present | names, key=_sort_key)
    line = f"from {module} import {', '.join(merged)}"
    if len(line) > 100 or found.group(1).startswith("("):
        line = f"from {module} import (\n" + "".join(f"    {n},\n" for n in merged) + ")"
    return source[: found.start()] + line + source[found.end() :]


def _insert_import(source: str, module: str, names: list[str]) -> str:
    """A new ``from module import`` line among the standard library's, in sorted place."""
    lines = source.splitlines(keepends=True)
    first = next(i for i, line in enumerate(lines) if line.startswith(("from ", "import ")))
    if lines[first].startswith("from __future__"):
        first = next(
            i for i in range(first + 1, len(lines)) if lines[i].startswith(("from ", "import "))
        )
    at = first
    while at < len(lines) and lines[at].startswith(("from ", "import ")):
        if lines[at].split()[1] > module:
            break
        at += 1
    lines.insert(at, f"from {module} import {', '.join(names)}\n")
    return "".join(lines)


# -- app.py and layout.html -------------------------------------------------------------


def _add_to_app(app: str, wiring: str) -> str:
    """``app.py`` with the resource's imports (sorted in), components and routes (each above
    its marker); a line it has already is not added again."""
    for marker in (COMPONENTS_MARKER, ROUTES_MARKER):
        if marker not in app:
            raise SpecError(f"app.py has lost its marker line: {marker.strip()!r}")
    lines = app.splitlines(keepends=True)
    imports = [line for line in wiring.splitlines(keepends=True) if line.startswith("from ")]
    views = [i for i, line in enumerate(lines) if line.startswith("from .views.")]
    lines[views[0] : views[-1] + 1] = sorted(set(lines[views[0] : views[-1] + 1]) | set(imports))
    text = "".join(lines)
    for marker, start in ((COMPONENTS_MARKER, "    environment."), (ROUTES_MARKER, "    live.")):
        new = [line for line in wiring.splitlines(keepends=True) if line.startswith(start)]
        text = text.replace(marker, "".join(line for line in new if line not in text) + marker)
    return text


def _add_nav(layout: str, resource: Resource) -> str:
    if NAV_MARKER not in layout:
        raise SpecError(f"layout.html has lost its marker line: {NAV_MARKER.strip()!r}")
    link = (
        f'        <li><a href="{{{{ root_path }}}}{resource.path}" data-phx-link="redirect" '
        f'data-phx-link-state="push">{resource.humans.capitalize()}</a></li>\n'
    )
    return layout if link in layout else layout.replace(NAV_MARKER, link + NAV_MARKER)


# -- the migration ------------------------------------------------------------------------


def _migration(resource: Resource, root: Path) -> tuple[Path, str, str]:
    """The migration's path, revision and parent: a new head, or the one an earlier run wrote."""
    versions = root / "migrations" / "versions"
    revisions: dict[str, str | None] = {}
    for path in sorted(versions.glob("*.py")):
        text = path.read_text()
        found, parent = REVISION.search(text), DOWN_REVISION.search(text)
        if found is None:
            continue
        if f'op.create_table(\n        "{resource.plural}",' in text:
            return path, found.group(1), parent.group(1) if parent else ""
        revisions[found.group(1)] = parent.group(1) if parent else None
    heads = set(revisions) - set(revisions.values())
    if len(heads) != 1:
        raise SpecError(
            f"the migrations have {len(heads)} heads ({', '.join(sorted(heads))}): merge them first"
        )
    head = heads.pop()
    revision = _new_revision(revisions)
    return versions / f"{revision}_{resource.plural}.py", revision, head


def _new_revision(revisions: t.Iterable[str]) -> str:
    """A revision no other branch of the project makes: the time, then random hex.

    Numbering after the newest (0005) gave two branches that each generated a
    resource the same revision. The time is after every generated revision's
    here, so the files sort in the order they were written.
    """
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    for revision in revisions:
        generated = GENERATED.fullmatch(revision)
        if generated is not None:
            written = datetime.strptime(generated.group(1), STAMP)
            now = max(now, written + timedelta(seconds=1))
    return f"{now:{STAMP}}_{secrets.token_hex(2)}"
