"""Baked projects pass their own test suites.

The default bake goes through exactly what a new user runs: ``make setup`` then
``make test``. The PostgreSQL bake runs its suite with this interpreter (which
has every pinned dependency) against a fresh database on the real server.
"""

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path

import asyncpg
import pytest
from conftest import Bake

POSTGRES_SERVER = "postgresql://postgres@127.0.0.1:5432/test"
# Subprocesses must not inherit this run's pytest or database settings.
LEAKY_VARIABLES = ("PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST", "DATABASE_URL", "TEST_DATABASE_URL")


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment minus what would leak into a baked project."""
    env = {key: value for key, value in os.environ.items() if key not in LEAKY_VARIABLES}
    return {**env, **overrides}


def run(command: Sequence[str], cwd: Path, env: dict[str, str], timeout: int) -> None:
    """Run a command, failing the test with its full output if it fails."""
    result = subprocess.run(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, f"{' '.join(command)} failed in {cwd}:\n{result.stdout}"


async def execute(statement: str) -> None:
    """Run one statement on the server's maintenance database."""
    connection = await asyncpg.connect(POSTGRES_SERVER)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """Create a uniquely named database, yield its async URL, then drop it."""
    name = f"template_{uuid.uuid4().hex}"
    asyncio.run(execute(f'CREATE DATABASE "{name}"'))
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    finally:
        asyncio.run(execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_default_bake_sets_up_and_passes_make_test(bake: Bake, tmp_path: Path) -> None:
    project = bake(tmp_path)
    env = clean_env(PROPERTY_SCALE="7")  # the property tests, seven times as thorough

    run(["make", "setup"], project, env, timeout=900)
    run(["make", "test"], project, env, timeout=1200)


def test_postgres_bake_passes_its_suite(
    bake: Bake, tmp_path: Path, postgres_url: str
) -> None:
    project = bake(tmp_path, database="postgresql")
    env = clean_env(
        PYTHONPATH="src", DATABASE_URL=postgres_url, TEST_DATABASE_URL=postgres_url
    )

    run(["npm", "ci", "--prefix", "assets"], project, env, timeout=300)
    run([sys.executable, "-m", "alembic", "upgrade", "head"], project, env, timeout=120)
    run([sys.executable, "-m", "pytest", "-q"], project, env, timeout=1200)
