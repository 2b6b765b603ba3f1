"""A benchmark's results: shown as tables and as strict JSON; the versions and load it ran with."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import sys
import tempfile
import time
import typing as t
from pathlib import Path

from harness import BenchError

Row = list[tuple[str, int]]  # each cell's text and width; the first is left-aligned
Tables = t.Callable[[dict[str, t.Any], t.TextIO], None]  # a bench's report of its data


def columns(cells: Row) -> str:
    (first, width), *rest = cells
    return "   " + first.ljust(width) + "".join(text.rjust(width) for text, width in rest)


def ms(value: float) -> str:
    return f"{value:,.1f}"


def version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def versions(*packages: str) -> dict[str, t.Any]:
    """The versions of Python and of each of ``packages``, and the machine's CPU count."""
    return {
        "python": platform.python_version(),
        **{package: version(package) for package in packages},
        "cpus": os.cpu_count(),
    }


def load_average() -> str:
    """The machine's load averages over 1, 5 and 15 minutes."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def finite(value: t.Any) -> t.Any:
    """``value`` with NaN (a figure with no samples) as ``None``, for strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: finite(item) for key, item in value.items()}
    if isinstance(value, list):
        return [finite(item) for item in value]
    return value


def command_line(doc: str | None) -> argparse.ArgumentParser:
    """A bench's arguments, described by its docstring's first line: ``--json`` (the
    tables on stderr, the results as JSON on stdout: see ``show``) and its own."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0] if doc else None)
    parser.add_argument(
        "--json", action="store_true", help="print JSON results on stdout, the table on stderr"
    )
    return parser


def run_bench(
    name: str,
    figures: t.Callable[[Path], dict[str, t.Any]],
    tables: Tables,
    as_json: bool,
    packages: t.Sequence[str] = (),
) -> int:
    """A bench's run, its exit code: ``figures`` (given a temporary directory, removed
    after: where a bench bakes the app), shown with the versions of Python and of
    ``packages``, the load average the bench started under and the seconds it took.

    A ``BenchError`` (the app would not bake, say) is printed as ``name: why``; exit code 1.
    """
    started, load = time.perf_counter(), load_average()
    with tempfile.TemporaryDirectory(prefix=f"{name}-") as temporary:
        try:
            found = figures(Path(temporary))
        except BenchError as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            return 1
    data = {"versions": versions(*packages), "load_average": load, **found}
    data["seconds"] = time.perf_counter() - started
    show(data, tables, as_json)
    return 0


def show(data: dict[str, t.Any], tables: Tables, as_json: bool) -> None:
    """The tables on stdout; with ``as_json``, on stderr, and the data as JSON on stdout."""
    tables(data, sys.stderr if as_json else sys.stdout)
    if as_json:
        print(json.dumps(finite(data), indent=2, allow_nan=False))
