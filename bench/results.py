"""A benchmark's results: shown as tables and as strict JSON; the versions and load it ran with."""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import sys
import typing as t
from pathlib import Path

Row = list[tuple[str, int]]  # each cell's text and width; the first is left-aligned


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


def json_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--json``: the tables on stderr, the results as JSON on stdout (see ``show``)."""
    parser.add_argument(
        "--json", action="store_true", help="print JSON results on stdout, the table on stderr"
    )


def show(
    data: dict[str, t.Any], tables: t.Callable[[dict[str, t.Any], t.TextIO], None], as_json: bool
) -> None:
    """The tables on stdout; with ``as_json``, on stderr, and the data as JSON on stdout."""
    tables(data, sys.stderr if as_json else sys.stdout)
    if as_json:
        print(json.dumps(finite(data), indent=2, allow_nan=False))
