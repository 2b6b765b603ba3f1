"""Every option bakes into a project that is complete, rendered and lint-clean."""

import json
import re
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import NamedTuple

import pytest
import yaml
from conftest import TEMPLATE, Bake, bake_into

TEMPLATE_PROJECT = TEMPLATE / "{{cookiecutter.project_slug}}"
TEMPLATE_PACKAGE = TEMPLATE_PROJECT / "src" / "{{cookiecutter.package_name}}"
# Directories copied verbatim: they carry Jinja syntax of their own.
VERBATIM_DIRS = ("gen", "live", "static", "templates", "views")
DATABASES = ("sqlite", "postgresql")
PUBSUBS = ("memory", "redis")
PUBSUB_URLS = {"memory": "memory://", "redis": "redis://127.0.0.1:6379/0"}
COOKIECUTTER_SYNTAX = re.compile(r"\{\{-?\s*cookiecutter\.|\{%-?[^%]*cookiecutter\.")


def files(project: Path) -> list[Path]:
    """Every file in a baked project."""
    return sorted(path for path in project.rglob("*") if path.is_file())


def read_env(path: Path) -> dict[str, str]:
    """Parse a KEY=value file, skipping comments."""
    pairs = (
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if line and not line.startswith("#")
    )
    return {key: value for key, value in pairs}


def pyproject(project: Path) -> dict:
    """The baked pyproject.toml, parsed (which also proves it is valid TOML)."""
    return tomllib.loads((project / "pyproject.toml").read_text())


def ruff_check(project: Path) -> None:
    """Fail with ruff's report unless the baked project is lint-clean."""
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(project)],
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_default_bake_has_the_expected_layout(default_project: Path) -> None:
    assert default_project.name == "my-live-app"
    package = default_project / "src" / "my_live_app"
    for relative in (
        "pyproject.toml",
        "uv.lock",
        ".python-version",
        "README.md",
        "Makefile",
        "alembic.ini",
        "Dockerfile",
        "compose.yaml",
        ".gitignore",
        ".env",
        ".env.example",
        "migrations/env.py",
        "migrations/script.py.mako",
        "migrations/versions/0001_initial.py",
        "assets/package.json",
        "assets/package-lock.json",
        "tests/app/test_db.py",
        "tests/live/test_live_replay.py",
    ):
        assert (default_project / relative).is_file(), relative
    for module in ("__init__.py", "settings.py", "db.py", "models.py"):
        assert (package / module).is_file(), module


def test_no_cookiecutter_syntax_is_left(default_project: Path) -> None:
    for path in files(default_project):
        relative = path.relative_to(default_project)
        assert "{{" not in str(relative) and "{%" not in str(relative), relative
        found = COOKIECUTTER_SYNTAX.search(path.read_text(errors="replace"))
        assert found is None, f"{relative}: unrendered {found.group()!r}"


def test_app_templates_and_runtime_are_copied_verbatim(default_project: Path) -> None:
    package = default_project / "src" / "my_live_app"
    html = sorted((package / "templates").rglob("*.html"))
    assert html, "the app has no Jinja templates"
    assert any("{{" in path.read_text() for path in html)
    for name in VERBATIM_DIRS:
        source_dir = TEMPLATE_PACKAGE / name
        for source in sorted(source_dir.rglob("*")):
            if source.is_file() and "__pycache__" not in source.parts:
                baked = package / name / source.relative_to(source_dir)
                assert baked.read_bytes() == source.read_bytes(), baked


def test_lock_file_is_copied_verbatim(default_project: Path) -> None:
    relative = Path("assets/package-lock.json")
    baked = (default_project / relative).read_bytes()
    assert baked == (TEMPLATE_PROJECT / relative).read_bytes()
    packages = json.loads(baked)["packages"]
    assert packages["node_modules/phoenix"]["version"] == "1.8.16"
    assert packages["node_modules/phoenix_live_view"]["version"] == "1.2.12"


def test_env_has_a_fresh_secret_and_the_example_has_none(
    default_project: Path, bake: Bake, tmp_path: Path
) -> None:
    env = read_env(default_project / ".env")
    example = read_env(default_project / ".env.example")
    other = read_env(bake(tmp_path) / ".env")

    assert len(env["SECRET_KEY"]) >= 64
    assert env["SECRET_KEY"] != other["SECRET_KEY"]
    assert example["SECRET_KEY"] == ""
    assert env.keys() == example.keys()
    assert env["SECRET_KEY"] not in (default_project / ".env.example").read_text()
    assert stat.S_IMODE((default_project / ".env").stat().st_mode) == 0o600
    assert ".env" in (default_project / ".gitignore").read_text().splitlines()


def test_env_is_quiet_and_answers_to_this_machine_only(default_project: Path) -> None:
    for name in (".env", ".env.example"):
        env = read_env(default_project / name)
        assert env["SQL_ECHO"] == "false"  # DEBUG=true shows tracebacks, not 1 KB of SQL a page
        assert env["ALLOWED_HOSTS"] == "localhost,127.0.0.1,[::1]"


def test_sqlite_bake_has_no_postgres_bits(default_project: Path) -> None:
    dependencies = pyproject(default_project)["project"]["dependencies"]
    assert "aiosqlite==0.22.1" in dependencies
    assert not any(dep.startswith("asyncpg") for dep in dependencies)
    assert "postgres" not in (default_project / "compose.yaml").read_text()
    url = read_env(default_project / ".env")["DATABASE_URL"]
    assert url == "sqlite+aiosqlite:///./app.db"
    settings = (default_project / "src/my_live_app/settings.py").read_text()
    assert "postgresql" not in settings


def test_postgres_bake_has_postgres_bits(postgres_project: Path) -> None:
    config = pyproject(postgres_project)["project"]
    assert "aiosqlite==0.22.1" in config["dependencies"]
    assert config["optional-dependencies"]["postgresql"] == ["asyncpg==0.32.0"]
    assert "EXTRAS := --extra postgresql\n" in (postgres_project / "Makefile").read_text()
    compose = (postgres_project / "compose.yaml").read_text()
    assert "image: postgres:" in compose
    assert "postgresql+asyncpg://postgres:postgres@db:5432/my_live_app" in compose
    for name in (".env", ".env.example"):
        url = read_env(postgres_project / name)["DATABASE_URL"]
        assert url == "postgresql+asyncpg://postgres@127.0.0.1:5432/my_live_app"
    settings = (postgres_project / "src/my_live_app/settings.py").read_text()
    assert "postgresql+asyncpg://postgres@127.0.0.1:5432/my_live_app" in settings


def test_custom_names_and_python_version(bake: Bake, tmp_path: Path) -> None:
    project = bake(
        tmp_path,
        project_name='Bob\'s "Shop" Floor',
        package_name="shopfloor",
        description='Sells "things"',
        python_version="3.12",
    )

    assert project.name == "bob-s-shop-floor"
    assert (project / "src" / "shopfloor" / "models.py").is_file()
    config = pyproject(project)
    assert config["project"]["name"] == "bob-s-shop-floor"
    assert config["project"]["description"] == 'Sells "things"'
    assert (project / ".python-version").read_text() == "3.12\n"
    assert config["tool"]["ruff"]["target-version"] == "py312"
    assert "FROM python:3.12-slim" in (project / "Dockerfile").read_text()
    assert "from shopfloor import models" in (project / "migrations/env.py").read_text()
    assert "python -m shopfloor\n" in (project / "Makefile").read_text()
    assert '# Bob\'s "Shop" Floor' in (project / "README.md").read_text()
    ruff_check(project)


def test_the_options_are_the_ones_tested_here() -> None:
    options = json.loads((TEMPLATE / "cookiecutter.json").read_text())
    assert (tuple(options["database"]), tuple(options["pubsub"])) == (DATABASES, PUBSUBS)


class Pair(NamedTuple):
    """A project baked with one database and one pub/sub."""

    database: str
    pubsub: str
    project: Path

    @property
    def flags(self) -> str:
        """The ``uv sync`` flags that install this pair's extras."""
        extras = [name for name in (self.database, self.pubsub) if name in ("postgresql", "redis")]
        return "".join(f" --extra {name}" for name in extras)


@pytest.fixture(
    scope="module",
    params=[(database, pubsub) for database in DATABASES for pubsub in PUBSUBS],
    ids="-".join,
)
def pair(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Pair:
    """Every pair of database and pub/sub, baked once each."""
    database, pubsub = request.param
    output = tmp_path_factory.mktemp(f"{database}-{pubsub}")
    return Pair(database, pubsub, bake_into(output, database=database, pubsub=pubsub))


def test_an_unknown_pubsub_is_refused_before_baking(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "cookiecutter", str(TEMPLATE), "--no-input", "-o", str(tmp_path)]
        + ["pubsub=kafka"],
        capture_output=True,
        text=True,
    )

    assert result.returncode != 0
    assert "the choices are ['memory', 'redis']" in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_every_pair_bakes_lint_clean(pair: Pair) -> None:
    ruff_check(pair.project)


def test_every_pair_installs_its_extras(pair: Pair) -> None:
    assert f"EXTRAS :={pair.flags}\n" in (pair.project / "Makefile").read_text()
    dockerfile = (pair.project / "Dockerfile").read_text()
    assert dockerfile.startswith("# The JS client")  # the extras' definition left no blank line
    syncs = [line.removesuffix(" \\") for line in dockerfile.splitlines() if "uv sync" in line]
    assert len(syncs) == 2 and all(line.endswith(f"--no-cache{pair.flags}") for line in syncs)
    readme = (pair.project / "README.md").read_text()
    assert f"uv sync --locked{pair.flags} into .venv" in readme


def test_every_pair_sets_its_pubsub_url(pair: Pair) -> None:
    url = PUBSUB_URLS[pair.pubsub]
    for name in (".env", ".env.example"):
        assert read_env(pair.project / name)["PUBSUB_URL"] == url
    settings = (pair.project / "src/my_live_app/settings.py").read_text()
    assert f'DEFAULT_PUBSUB_URL = "{url}"\n' in settings


def test_every_pair_composes_the_services_it_needs(pair: Pair) -> None:
    compose = yaml.safe_load((pair.project / "compose.yaml").read_text())
    services = compose["services"]
    needs = {"db"} if pair.database == "postgresql" else set()
    needs |= {"redis"} if pair.pubsub == "redis" else set()
    assert set(services) == {"app", *needs}
    app = services["app"]
    assert set(app.get("depends_on", {})) == needs
    assert all(app["depends_on"][name] == {"condition": "service_healthy"} for name in needs)
    assert all(services[name]["healthcheck"]["test"] for name in needs)
    if pair.pubsub == "redis":
        assert app["environment"]["PUBSUB_URL"] == "redis://redis:6379/0"
        assert services["redis"]["image"].startswith("redis:")
    else:
        assert "PUBSUB_URL" not in app["environment"]  # the baked default, memory://
    assert set(compose["volumes"]) == ({"pgdata"} if pair.database == "postgresql" else {"data"})


def test_every_pair_has_the_one_lock(pair: Pair, default_project: Path) -> None:
    assert (pair.project / "uv.lock").read_bytes() == (default_project / "uv.lock").read_bytes()


@pytest.mark.parametrize("package_name", ["aaa", "zzz"])
def test_lint_does_not_depend_on_where_the_package_name_sorts(
    package_name: str, bake: Bake, tmp_path: Path
) -> None:
    # Imports of the tests' helpers must sort the same before and after the app's package.
    ruff_check(bake(tmp_path, package_name=package_name))


@pytest.mark.parametrize(
    ("answer", "complaint"),
    [
        ("package_name=class", "keyword"),
        ("package_name=1abc", "not a valid Python identifier"),
        ("package_name=my-pkg", "not a valid Python identifier"),
        ("project_slug=Bad Slug!", "project_slug 'Bad Slug!'"),
        ("python_version=3.9", "python_version '3.9'"),
    ],
)
def test_invalid_answers_are_rejected(
    answer: str, complaint: str, tmp_path: Path
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cookiecutter",
            str(TEMPLATE),
            "--no-input",
            "--output-dir",
            str(tmp_path),
            answer,
        ],
        capture_output=True,
        text=True,
    )

    assert result.returncode != 0
    errors = [line for line in result.stdout.splitlines() if line.startswith("ERROR:")]
    assert any(complaint in line for line in errors), result.stdout + result.stderr
    assert list(tmp_path.iterdir()) == [], "a rejected bake left files behind"
