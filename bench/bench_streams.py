"""Streams against a keyed list: the bytes of an insert at the top, and the memory kept.

A 1,000-row table (id, name, email, score) is rendered twice by the template's
runtime, as a joined LiveView renders it (with its ``Memo``, statics shared as
sent): once from a plain list, a keyed comprehension the server diffs against
its last render, and once from a ``Stream``, whose rows the server forgets
once sent. One row is then inserted at the top, and the diff's JSON bytes
counted. Each diff is checked first: merged by the test client's port of the
official client (``live.testing.rendered``, which keeps a stream's rows as the
browser does), the table must show the new rows in order.

Memory: what stays allocated after the render (``tracemalloc``) for 1,000 and
10,000 rows: the list's rows, its tree and its memo, against the stream's
(empty) operations and its emptied tree. Figures only: the exit code is 0.

Usage: ``python bench/bench_streams.py [--json]``.
"""

from __future__ import annotations

import gc
import json
import re
import sys
import tracemalloc
import typing as t
from pathlib import Path

from harness import use_runtime
from results import command_line, run_bench

use_runtime("bench_streams")

from live import LiveEnvironment, Stream, diff_tree, render_template  # noqa: E402
from live.memo import Memo  # noqa: E402
from live.shared_statics import share_statics  # noqa: E402
from live.testing.rendered import Rendered  # noqa: E402
from live.tree import forget_streams  # noqa: E402

ROWS = 1000
TARGET_INSERT_BYTES = 300
ROW = """<tr id="{{ dom_id }}">
        <td class="name">{{ r.name }}</td>
        <td class="email">{{ r.email }}</td>
        <td class="score">{{ r.score }}</td>
      </tr>"""
KEYED = f"""<table><tbody id="users">
      {{% for r in rows %}}{{% set dom_id = "users-" ~ r.id %}}{ROW}{{% endfor %}}
</tbody></table>"""
STREAMED = f"""<table><tbody id="users" phx-update="stream">
      {{% for dom_id, r in rows %}}{ROW}{{% endfor %}}
</tbody></table>"""
ENVIRONMENT = LiveEnvironment()
Row = dict[str, t.Any]


def make_rows(count: int, start: int = 1) -> list[Row]:
    return [
        {"id": i, "name": f"Person {i:05d}", "email": f"p{i}@example.com", "score": i % 997}
        for i in range(start, start + count)
    ]


def size(value: t.Any) -> int:
    return len(json.dumps(value, separators=(",", ":")))


def shown_ids(html: str) -> list[int]:
    return [int(found) for found in re.findall(r'<tr id="users-(\d+)">', html)]


def insert_at_top(streamed: bool) -> int:
    """The bytes of the diff inserting one row above ``ROWS`` rows; checked by merging it."""
    template = ENVIRONMENT.from_string(STREAMED if streamed else KEYED)
    rows, newcomer, memo = make_rows(ROWS), make_rows(1, start=ROWS + 1)[0], Memo()
    rows_value: t.Any = Stream(rows, name="users") if streamed else rows
    joined = render_template(template, {"rows": rows_value}, memo)
    client = Rendered(json.loads(json.dumps(share_statics(joined))))
    forget_streams(joined)
    if streamed:
        rows_value.insert(newcomer, at=0)
    else:
        rows_value = [newcomer, *rows]
    tree = render_template(template, {"rows": rows_value}, memo)
    diff = share_statics(diff_tree(joined, tree))
    client.merge(json.loads(json.dumps(diff)))
    expected = [newcomer["id"], *(row["id"] for row in rows)]
    if shown_ids(client.html) != expected:
        raise SystemExit(f"bench_streams: the merged {'stream' if streamed else 'list'} is wrong")
    return size(diff)


def kept_after_render(streamed: bool, count: int) -> int:
    """Bytes still allocated after rendering ``count`` rows: what the view keeps between events."""
    template = ENVIRONMENT.from_string(STREAMED if streamed else KEYED)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    memo = Memo()
    rows: t.Any = make_rows(count)
    if streamed:
        rows = Stream(rows, name="users")  # the view keeps the stream, not the list
    tree = render_template(template, {"rows": rows}, memo)
    share_statics(tree)  # sent
    forget_streams(tree)
    gc.collect()
    kept = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del tree, rows, memo
    return kept


def report(data: dict[str, t.Any], out: t.TextIO) -> None:
    """Print the human-readable report."""
    inserted = data["insert_at_top_bytes"]
    print(
        f"Insert a row at the top of {ROWS:,} rows (diff bytes, target ≤ {TARGET_INSERT_BYTES}):",
        file=out,
    )
    for kind, count in inserted.items():
        print(f"  {kind:<11} {count:>8,} B", file=out)
    print("Memory kept after the render (tracemalloc):", file=out)
    for kind, by_count in data["kept_after_render_bytes"].items():
        shown = ", ".join(f"{int(n):,} rows: {b / 1024:,.1f} KiB" for n, b in by_count.items())
        print(f"  {kind:<11} {shown}", file=out)


def main(argv: list[str] | None = None) -> int:
    args = command_line(__doc__).parse_args(argv)
    kinds = {"keyed_list": False, "stream": True}

    def figures(_: Path) -> dict[str, t.Any]:
        return {
            "rows": ROWS,
            "insert_at_top_bytes": {
                kind: insert_at_top(streamed) for kind, streamed in kinds.items()
            },
            "kept_after_render_bytes": {
                kind: {str(n): kept_after_render(streamed, n) for n in (1000, 10_000)}
                for kind, streamed in kinds.items()
            },
        }

    return run_bench("bench_streams", figures, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
