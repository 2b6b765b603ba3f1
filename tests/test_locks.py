"""Every bake installs from the same locked packages, with the same pinned uv.

The baked ``uv.lock`` is the template's, with only the project's own name
filled in (``make lock`` writes it); drivers are extras, so the database
option changes nothing in it, and ``uv lock --check`` proves it still matches
the baked ``pyproject.toml`` whatever the names and Python version chosen.
"""

import re
import subprocess
import sys
from pathlib import Path

from conftest import TEMPLATE, Bake

TEMPLATE_LOCK = TEMPLATE / "{{cookiecutter.project_slug}}" / "uv.lock"


def uv_lock_check(project: Path) -> None:
    """Fail unless uv finds the project's lock up to date with its pyproject.toml."""
    result = subprocess.run(
        [sys.executable, "-m", "uv", "lock", "--check", "--python", sys.executable],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_lock_is_the_same_for_every_database(
    default_project: Path, postgres_project: Path
) -> None:
    lock = (default_project / "uv.lock").read_bytes()

    assert (postgres_project / "uv.lock").read_bytes() == lock
    template_lock = TEMPLATE_LOCK.read_text().replace(
        "{{ cookiecutter.project_slug }}", "my-live-app"
    )
    assert lock == template_lock.encode()
    uv_lock_check(default_project)


def test_the_lock_fits_custom_names_and_python_versions(bake: Bake, tmp_path: Path) -> None:
    project = bake(
        tmp_path, project_name="Shop Floor 2", package_name="floor", python_version="3.12"
    )

    assert (project / ".python-version").read_text() == "3.12\n"
    assert 'name = "shop-floor-2"' in (project / "uv.lock").read_text()
    uv_lock_check(project)


def test_uv_is_pinned_to_one_version(default_project: Path) -> None:
    def pins(path: Path, pattern: str) -> set[str]:
        return set(re.findall(pattern, path.read_text(), re.MULTILINE))

    versions = (
        pins(TEMPLATE / "Makefile", r"UV_VERSION := (\S+)")
        | pins(TEMPLATE / "requirements-dev.in", r"^uv==(\S+)$")
        | pins(default_project / "Makefile", r"UV_VERSION := (\S+)")
        | pins(default_project / "Dockerfile", r"uv==(\S+)")
        | pins(default_project / "README.md", r"uv\]\([^)]*\) (\S+) from PyPI")
    )
    assert len(versions) == 1, versions
