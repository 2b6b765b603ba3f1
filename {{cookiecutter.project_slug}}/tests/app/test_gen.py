"""``make gen-live``: what it refuses, what it writes, and that it never overwrites unasked.

Each test runs the generator on a copy of this project (its sources and
migrations) in a temporary directory; the template's own tests generate two
resources into a fresh bake and run its whole suite.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.gen.__main__ import main
from {{ cookiecutter.package_name }}.gen.writer import DOWN_REVISION, REVISION
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT

PACKAGE = "{{ cookiecutter.package_name }}"
# Names no resource of the app takes (this project may have generated some already).
SHELF = ["GenShelf", "gen_shelves", "name:str", "notes:text"]
BOOK = [
    "GenBook", "gen_books", "title:str", "price:decimal", "in_stock:bool", "released:date",
    "starts_at:datetime", "pages:int", "state:enum:draft,live", "shelf_id:references:gen_shelves",
]  # fmt: skip


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A copy of this project's sources, migrations and settings to generate into."""
    ignore = shutil.ignore_patterns("__pycache__")
    for part in ("src", "migrations"):
        shutil.copytree(PROJECT_ROOT / part, tmp_path / part, ignore=ignore)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)  # ruff's settings
    return tmp_path


def snapshot(root: Path) -> dict[Path, bytes]:
    return {path: path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def package(root: Path) -> Path:
    return root / "src" / PACKAGE


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["product", "products", "name:str"], "class name, like Product"),
        (["Product", "Products", "name:str"], "the plural is lowercase"),
        (["Product", "models", "name:str"], "'models' is taken by the app itself"),
        (["Product", "loading", "name:str"], "'loading' is taken by the app itself"),
        (["Product", "static", "name:str"], "'static' is taken by the app itself"),
        (["Product", "class", "name:str"], "the plural is lowercase"),
        (["Product", "products"], "usage: make gen-live"),
        (["Product", "products", "class:str"], "its name in lowercase"),
        (["Product", "products", "name:str", "id:int"], "'id' is reserved"),
        (["Product", "products", "name:str", "model_x:int"], "'model_x' is reserved"),
        (["Product", "products", "name:str", "date:date"], "'date' is reserved"),
        (["Product", "products", "name:str", "price:money"], "unknown type 'money'; the types"),
        (["Product", "products", "name:str", "name:text"], "the field 'name' is given twice"),
        (["Product", "products", "price:decimal"], "a resource needs a str field"),
        (["Product", "products", "name:str", "state:enum"], "an enum lists its choices"),
        (["Product", "products", "name:str", "state:enum:Draft"], "an enum lists its choices"),
        (["Product", "products", "name:str", "state:enum:a,a"], "a choice is given twice"),
        (["Product", "products", "name:str:x"], "only enum and references take a third part"),
        (["Product", "products", "name:str", "category:references:categories"], "ends in _id"),
        (
            ["Product", "products", "name:str", "shelf_id:references:gen_shelves"],
            "there is no resource 'gen_shelves' written by make gen-live",
        ),
        (
            ["Product", "products", "name:str", "contact_id:references:contacts"],
            "there is no resource 'contacts' written by make gen-live",
        ),
        (["Contact", "people", "name:str"], "Contact is already in models.py"),
        (["Person", "contacts", "name:str"], "'contacts' is taken by the app itself"),
        (["Item", "things", "name:str"], "Item is already in models.py"),
        (["None", "nones", "name:str"], "class name, like Product"),
        (["Page", "pages", "name:str"], "'Page' is a name the generated code uses itself"),
        (["Product", "products", "name:str", "json:text"], "'json' is reserved"),
        (["Product", "products", "name:str", "validate:str"], "'validate' is reserved"),
        (["Product", "p" * 29, "name:str"], "(at most 28)"),
        (["Product", "products", "name:str", "f" * 31 + ":int"], "(at most 30)"),
    ],
)
def test_bad_input_is_refused_clearly_and_nothing_is_written(
    root: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(root)
    assert main(args, root=root) == 2
    error = capsys.readouterr().err
    assert error.startswith("ERROR: ") and message in error, error
    assert snapshot(root) == before


def test_a_resource_refers_to_another_once(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(SHELF, root=root) == 0
    twice = ["a_id:references:gen_shelves", "b_id:references:gen_shelves"]
    assert main(["GenBook", "gen_books", "title:str", *twice], root=root) == 2
    assert "a resource may refer to 'gen_shelves' once" in capsys.readouterr().err


def test_a_resource_is_written_with_its_routes_nav_model_and_migration(root: Path) -> None:
    assert main(SHELF, root=root) == 0
    assert main(BOOK, root=root) == 0
    source = package(root)
    for path in (
        "gen_shelves.py", "gen_books.py", "crud.py", "views/gen_books/index.py",
        "views/gen_books/show.py", "views/gen_books/form.py", "templates/gen_books/index.html",
        "templates/gen_books/show.html", "templates/gen_books/form.html", "templates/field.html",
    ):  # fmt: skip
        text = (source / path).read_text()
        assert "{=" not in text and "<%" not in text, path  # the generator's own delimiters
    for path in ("tests/app/test_gen_books.py", "tests/app/test_browser_gen_books.py"):
        assert (root / path).is_file()
    shelves, books = sorted((root / "migrations/versions").glob("*_gen_*.py"))  # in time order
    assert shelves.name.endswith("_gen_shelves.py") and books.name.endswith("_gen_books.py")
    shelves_revision = shelves.name.removesuffix("_gen_shelves.py")
    assert f'revision: str = "{shelves_revision}"' in shelves.read_text()
    assert f'down_revision: str | Sequence[str] | None = "{shelves_revision}"' in books.read_text()
    assert 'sa.ForeignKey("gen_shelves.id", ondelete="SET NULL")' in books.read_text()
    app = (source / "app.py").read_text()
    assert 'live.add("/gen-books/{id:int}/edit", GenBookFormLive, name="gen_book_edit")' in app
    assert "from .views.gen_books.index import GenBookListLive\n" in app
    assert '    environment.globals["GenBookFormComponent"] = GenBookFormComponent\n' in app
    layout = (source / "templates/layout.html").read_text()
    assert layout.index(">Gen shelves</a>") < layout.index(">Gen books</a>")
    models = (source / "models.py").read_text()
    assert "class GenBookState(StrEnum):" in models and "class GenBook(Base):" in models
    assert "from decimal import Decimal\n" in models


def test_two_branches_that_each_generate_a_resource_get_different_revisions(
    root: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Numbered after the newest, both were 0005 and clashed once merged; each still
    revises the head it was generated on (alembic merges the two heads)."""
    other = tmp_path_factory.mktemp("branch")
    shutil.copytree(root, other, dirs_exist_ok=True)
    before = {
        found.group(1)
        for path in (root / "migrations/versions").glob("*.py")
        if (found := REVISION.search(path.read_text()))
    }
    assert main(SHELF, root=root) == 0
    assert main(BOOK[:3], root=other) == 0  # the same migrations, another resource
    (ours, parent), (theirs, their_parent) = (generated_revision(r) for r in (root, other))
    assert ours != theirs
    assert parent == their_parent and parent in before  # the head both were generated on


def generated_revision(root: Path) -> tuple[str, str]:
    """The revision of the one generated migration in ``root``, and its parent."""
    (path,) = (root / "migrations/versions").glob("*_gen_*.py")
    text = path.read_text()
    revision, parent = REVISION.search(text), DOWN_REVISION.search(text)
    assert revision is not None and parent is not None
    return revision.group(1), parent.group(1)


def test_an_existing_resource_is_written_again_only_with_force(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(SHELF, root=root) == 0
    written = snapshot(root)
    view = package(root) / "views" / "gen_shelves" / "index.py"
    view.write_text("# mine\n")
    assert main(SHELF, root=root) == 2
    assert "GenShelf exists already (src/" in capsys.readouterr().err
    assert view.read_text() == "# mine\n"

    assert main([*SHELF, "--force"], root=root) == 0
    # Everything as the first run wrote it: one model, one route, one link, one migration.
    assert snapshot(root) == written
