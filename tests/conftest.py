"""Fixtures that bake the template into temporary directories."""

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

TEMPLATE = Path(__file__).resolve().parents[1]

Bake = Callable[..., Path]


def scaled(seconds: float) -> float:
    """``seconds`` times ``TEST_TIMEOUT_SCALE`` (1 unless set): the factor the baked suites use."""
    return seconds * float(os.environ.get("TEST_TIMEOUT_SCALE") or 1)


def bake_into(output_dir: Path, **extra_context: str) -> Path:
    """Bake the template with the given answers; return the project directory."""
    return Path(
        cookiecutter(
            str(TEMPLATE),
            no_input=True,
            output_dir=str(output_dir),
            extra_context=extra_context,
        )
    )


@pytest.fixture
def bake() -> Bake:
    """Return ``bake(output_dir, **extra_context) -> project directory``."""
    return bake_into


@pytest.fixture(scope="session")
def default_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template baked once with every default, shared by read-only tests."""
    return bake_into(tmp_path_factory.mktemp("default"))


@pytest.fixture(scope="session")
def postgres_project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The template baked once with ``database=postgresql``."""
    return bake_into(tmp_path_factory.mktemp("postgresql"), database="postgresql")
