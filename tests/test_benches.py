"""The benchmark scripts: each starts (its imports hold) and is lint-clean.

A bench is run by hand, not by the suites, so a refactor of ``bench/``'s shared
modules could break one unseen until someone needs its figures.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TEMPLATE

BENCHES = sorted((TEMPLATE / "bench").glob("bench_*.py"))


def test_there_are_benches() -> None:
    assert len(BENCHES) >= 8


@pytest.mark.parametrize("script", BENCHES, ids=lambda path: path.stem)
def test_each_bench_starts_and_describes_its_options(script: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script), "--help"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "--json" in result.stdout


def test_the_benches_are_lint_clean() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", str(TEMPLATE / "bench")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout


def test_the_benches_set_the_collector_up_as_the_app_does() -> None:
    pattern = re.compile(r"^GC_THRESHOLDS = (\(.*?\))", re.MULTILINE)
    served = TEMPLATE / "{{cookiecutter.project_slug}}/src/{{cookiecutter.package_name}}"
    app = pattern.search((served / "__main__.py").read_text())
    bench = pattern.search((TEMPLATE / "bench/harness.py").read_text())
    assert app is not None and bench is not None
    assert app.group(1) == bench.group(1)
