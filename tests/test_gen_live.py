"""``make gen-live`` in a fresh bake: two resources, one referring to the other, then every check.

The default bake runs its whole suite with them (``make test``), and
``alembic check`` finds nothing the written migrations miss. The PostgreSQL
and Redis bake migrates its real database and runs lint, typecheck and the
resources' own tests (the rest of its suite runs in ``test_baked_suite``).
"""

import subprocess
from pathlib import Path

from conftest import Bake
from test_baked_suite import (  # noqa: F401 - postgres_url is a fixture
    CHECK_TIMEOUT,
    SETUP_TIMEOUT,
    TEST_TIMEOUT,
    clean_env,
    postgres_url,
    run,
)

RESOURCES = (
    "Category categories name:str notes:text",
    "Product products name:str description:text price:decimal quantity:int in_stock:bool "
    "released:date available_at:datetime status:enum:draft,live,archived "
    "category_id:references:categories",
)
GENERATED_TESTS = [
    "tests/test_gen.py",
    "tests/test_categories.py",
    "tests/test_browser_categories.py",
    "tests/test_products.py",
    "tests/test_browser_products.py",
]


def generate(project: Path, env: dict[str, str]) -> None:
    """Both resources, migrated; the migrations say all the models say."""
    for args in RESOURCES:
        output = run(["make", "gen-live", f"ARGS={args}"], project, env, timeout=CHECK_TIMEOUT)
        assert "Next: make migrate" in output
    again = ["make", "gen-live", f"ARGS={RESOURCES[0]}"]
    refused = subprocess.run(again, cwd=project, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "ERROR: Category exists already" in refused.stderr
    run(["make", "migrate"], project, env, timeout=CHECK_TIMEOUT)
    checked = run([".venv/bin/alembic", "check"], project, env, timeout=CHECK_TIMEOUT)
    assert "No new upgrade operations detected." in checked
    layout = (project / "src" / "my_live_app" / "templates" / "layout.html").read_text()
    assert layout.index(">Categories</a>") < layout.index(">Products</a>")


def test_two_generated_resources_pass_the_whole_suite(bake: Bake, tmp_path: Path) -> None:
    project = bake(tmp_path)
    env = clean_env()
    run(["make", "setup"], project, env, timeout=SETUP_TIMEOUT)

    generate(project, env)

    run(["make", "lint"], project, env, timeout=CHECK_TIMEOUT)
    run(["make", "typecheck"], project, env, timeout=CHECK_TIMEOUT)
    output = run(["make", "test"], project, env, timeout=TEST_TIMEOUT)
    assert " passed" in output and "skipped" not in output


def test_two_generated_resources_pass_on_postgresql_and_redis(
    bake: Bake, tmp_path: Path, postgres_url: str  # noqa: F811
) -> None:
    project = bake(tmp_path, database="postgresql", pubsub="redis")
    env = clean_env(DATABASE_URL=postgres_url)
    run(["make", "setup"], project, env, timeout=SETUP_TIMEOUT)

    generate(project, env)

    run(["make", "lint"], project, env, timeout=CHECK_TIMEOUT)
    run(["make", "typecheck"], project, env, timeout=CHECK_TIMEOUT)
    run([".venv/bin/pytest", "-q", *GENERATED_TESTS], project, env, timeout=TEST_TIMEOUT)
