"""Benchmark the LiveView rendered-tree differ against plain Jinja2 and PyView.

A 1,000-row table (id, name, email, score) is rendered and diffed by:

* ours: ``live.render_tree`` + ``live.diff_tree`` (the vendored runtime),
  both stateless and as a joined LiveView renders: with the view's ``Memo``,
  so the rows an event did not change are reused (change tracking);
* Jinja2: ``jinja2.Environment(autoescape=True)`` rendering the same template
  to an HTML string, with no diff: the baseline cost of rendering at all;
* PyView 0.9.0: ``pyview.vendor.ibis.Template.tree`` +
  ``pyview.template.render_diff.calc_diff``, the calls behind PyView's
  ``LiveTemplate.tree`` and ``ConnectedLiveViewSocket.diff``.

Scenarios: the join (first render), an event changing one row's name, and an
event inserting a row at the top. Then, as a view's handler mutates its
context in place (issue 16's targets): one row's name changed, in a table of
1,000 rows and of 10,000, and only the title changed. Each timing is the median (and min) of
``--repeat`` runs after a warm-up, engines taking turns run by run, with the
garbage collector on, at the thresholds the baked app's server sets. Before
any timing, each diff is merged into the previous render the way the Phoenix
client merges it (with the test client's port, ``live.testing.rendered``) and
turned back into HTML, which must equal Jinja2's HTML of the new state: no
engine is timed doing nothing.
The exit code is 0 whatever the figures and checks say: this is a report.

Usage: ``python bench/bench_diff.py [--repeat N] [--json]``.
"""

from __future__ import annotations

import gc
import json
import random
import re
import statistics
import sys
import time
import typing as t
import unicodedata
from pathlib import Path

import jinja2
from markupsafe import escape

from harness import GC_THRESHOLDS, use_runtime
from results import command_line, run_bench

use_runtime("bench_diff")

from live import diff_tree, render_tree  # noqa: E402
from live.memo import Memo  # noqa: E402
from live.testing.rendered import Rendered  # noqa: E402

try:
    from pyview.template.render_diff import calc_diff  # type: ignore[import-untyped]
    from pyview.vendor.ibis import Template as IbisTemplate  # type: ignore[import-untyped]
except ImportError as error:
    sys.exit(
        f"bench_diff: PyView is not installed ({error}).\n"
        "Install it into the tooling venv: .venv/bin/pip install pyview-web==0.9.0"
    )

PYVIEW_VERSION = "0.9.0"
ROWS = 1000
BIG_ROWS = 10_000
CHANGED_ROW = 500
WARMUP = 10
TARGET_VS_JINJA = 1.5
TARGET_VS_PYVIEW = 0.5
TARGET_DIFF_BYTES = 300
# Issue 16: ratios to Jinja2's HTML render of the same 1,000 rows, and 10k rows / 1k rows.
TARGET_STATELESS = 0.2
TARGET_TRACKED = 0.03
TARGET_TITLE = 0.005
TARGET_BIG_VS_SMALL = 3.0

# Valid Jinja2 and ibis (PyView) alike; every engine renders the same HTML from it.
# No trailing newline: Jinja2 drops it, ibis keeps it.
TEMPLATE = """<section class="users">
  <h1>{{ title }}</h1>
  <p class="summary">{{ count }} users, sorted by {{ sort }}</p>
  <table>
    <thead><tr><th>ID</th><th>Name</th><th>Email</th><th>Score</th></tr></thead>
    <tbody>
      {% for r in rows %}<tr>
        <td class="id">{{ r.id }}</td>
        <td class="name">{{ r.name }}</td>
        <td class="email">{{ r.email }}</td>
        <td class="score">{{ r.score }}</td>
      </tr>
      {% endfor %}
    </tbody>
  </table>
</section>"""

Tree = dict[str, t.Any]
Context = dict[str, t.Any]
Row = dict[str, t.Any]
Result = dict[str, t.Any]

FIRST_NAMES = [
    "Amelia", "Björn", "Chloé", "Dmitri", "Emeka", "Fatima", "Giulia", "Hiroshi", "Isabel",
    "Jamal", "Keiko", "Liam", "Maëlle", "Nikolai", "Olivia", "Priya", "Quentin", "Rosa",
    "Søren", "Tomás", "Uma", "Valentina", "Wei", "Yusuf", "Zoë",
]  # fmt: skip
LAST_NAMES = [
    "O'Brien", "Müller", "García", "Nakamura", "Okafor", "Kowalski", "Smith", "Johansson",
    "Rossi", "Dubois", "Fernández", "Ivanova", "Chen", "Patel", "Nguyen", "da Silva",
    "MacLeod", "Haddad", "Schmidt", "Andersen",
]  # fmt: skip
DOMAINS = ["example.com", "mail.example.org", "corp.example.net", "uni.example.edu"]


def _ascii_word(text: str) -> str:
    """``text`` folded to lowercase ASCII letters, for an email address."""
    return re.sub(r"[^a-z]", "", unicodedata.normalize("NFKD", text).lower())


def make_rows(count: int) -> list[Row]:
    """``count`` users with realistic, deterministic names, emails and scores."""
    rng = random.Random(20240601)
    rows = []
    for i in range(1, count + 1):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        rows.append(
            {
                "id": i,
                "name": f"{first} {last}",
                "email": f"{_ascii_word(first)}.{_ascii_word(last)}{i}@{rng.choice(DOMAINS)}",
                "score": rng.randint(0, 10_000),
            }
        )
    return rows


def page(rows: list[Row]) -> Context:
    """The template context for a table of ``rows``."""
    return {"title": "Team directory", "count": len(rows), "sort": "name", "rows": rows}


def wire_bytes(value: t.Any) -> int:
    """Size of ``value`` as the compact JSON sent over the socket."""
    return len(json.dumps(value, separators=(",", ":")))


# -- merging a diff as the Phoenix client does -----------------------------------------------


def client_html(join: Tree, *diffs: Tree) -> str:
    """The HTML the Phoenix client shows after merging ``join``, then each diff, in turn.

    Each goes through JSON first, as on the wire, and PyView's comprehensions
    are read as the current client's keyed ones (see ``keyed``).
    """
    rendered = Rendered(keyed(json.loads(json.dumps(join))))
    for diff in diffs:
        rendered.merge(keyed(json.loads(json.dumps(diff))))
    return rendered.html


def keyed(node: t.Any) -> t.Any:
    """PyView's ``d`` rows as keyed entries ``k``, the format the client now merges.

    PyView sends the format LiveView had before 1.1: a comprehension's rows as
    a list ``d``, replaced whole. Given as every entry in full, with ``kc``,
    the same rows merge into the same tree, so the check judges PyView's diffs
    by the rules the client applies to ours.
    """
    if isinstance(node, list):
        return [keyed(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: keyed(value) for key, value in node.items() if key != "d"}
    if "d" in node:
        rows = node["d"]
        entries = {
            str(i): {str(j): keyed(value) for j, value in enumerate(row)}
            for i, row in enumerate(rows)
        }
        out["k"] = {**entries, "kc": len(rows)}
    return out


# -- engines and scenarios -------------------------------------------------------------------


class Engine(t.NamedTuple):
    """A renderer to rendered trees and the differ that goes with it."""

    name: str
    render_call: str
    diff_call: str
    render: t.Callable[[Context], Tree]
    diff: t.Callable[[Tree, Tree], Tree]

    def event(self, previous: Tree, context: Context) -> Tree:
        """What every event costs: render the new state, diff it against ``previous``."""
        return self.diff(previous, self.render(context))


def _render_ours(context: Context) -> Tree:
    return render_tree(TEMPLATE, context)


OURS = Engine("ours", "render_tree", "diff_tree", _render_ours, diff_tree)
PYVIEW = Engine("pyview", "ibis Template.tree", "calc_diff", IbisTemplate(TEMPLATE).tree, calc_diff)
TREE_ENGINES = (OURS, PYVIEW)


class LiveViewRun:
    """Ours as a joined LiveView renders: one ``Memo`` across its renders.

    Each call is one event, alternating between the scenario's two states, so
    every timed call really changes what the event changes, and no more.
    """

    name = "ours+memo"
    call = "render_tree(memo) + diff_tree (a live view's event)"

    def __init__(self, scenario: Scenario) -> None:
        self._memo = Memo()
        self._states = (scenario.new, scenario.old)
        self._turn = 0
        self.tree = render_tree(TEMPLATE, scenario.old, self._memo)

    def event(self) -> Tree:
        context = self._states[self._turn]
        self._turn ^= 1
        tree = render_tree(TEMPLATE, context, self._memo)
        diff, self.tree = diff_tree(self.tree, tree), tree
        return diff


class InPlaceRun:
    """Ours as a joined LiveView renders when its handler mutates the context in place.

    Each call is one event: ``change`` edits the context (alternating between
    two values, turn 0 and 1), then the view renders with its ``Memo`` and diffs.
    """

    name = "ours+memo"
    call = "render_tree(memo) + diff_tree, context mutated in place"

    def __init__(self, context: Context, change: t.Callable[[Context, int], None]) -> None:
        self.context = context
        self._change = change
        self._memo = Memo()
        self._turn = 1
        self.tree = render_tree(TEMPLATE, context, self._memo)

    def event(self) -> Tree:
        self._turn ^= 1
        self._change(self.context, self._turn)
        tree = render_tree(TEMPLATE, self.context, self._memo)
        diff, self.tree = diff_tree(self.tree, tree), tree
        return diff


def rename(context: Context, turn: int) -> None:
    """Change one row's name in place."""
    context["rows"][CHANGED_ROW]["name"] = ("Ada O'Neill-Lovelace", "Grace <Hopper>")[turn]


def retitle(context: Context, turn: int) -> None:
    """Change only the page's title."""
    context["title"] = ("Team directory (edited)", "Team directory")[turn]


IN_PLACE = {
    "row 1k": (ROWS, rename),
    "title 1k": (ROWS, retitle),
    "row 10k": (BIG_ROWS, rename),
}


def check_in_place(name: str) -> Result:
    """Verify an in-place event's diff, merged into the previous render, gives the new page."""
    count, change = IN_PLACE[name]
    run = InPlaceRun(page(make_rows(count)), change)
    previous, old_html = run.tree, render_jinja(run.context)
    diff = run.event()
    problems = []
    if render_jinja(run.context) == old_html:
        problems.append("the event changes nothing")
    if client_html(previous, diff) != render_jinja(run.context):
        problems.append("the diff merged into the previous render does not give the new page")
    return {"scenario": name, "engine": run.name, "ok": not problems, "problems": problems}


JINJA_CALL = "Environment(autoescape=True) Template.render"
_jinja_template = jinja2.Environment(autoescape=True).from_string(TEMPLATE)


def render_jinja(context: Context) -> str:
    """Plain Jinja2: the page as an HTML string."""
    return _jinja_template.render(context)


class Scenario(t.NamedTuple):
    """An event: the state before, the state after, and text its diff must carry."""

    name: str
    title: str
    old: Context
    new: Context
    expected: str


def scenarios(rows: list[Row]) -> list[Scenario]:
    """The one-row update and the insert-at-top events."""
    new_name = "Ada O'Neill-Lovelace"
    renamed = list(rows)
    renamed[CHANGED_ROW] = {**rows[CHANGED_ROW], "name": new_name}
    newcomer_name = "Grace Hopper"
    newcomer = {"id": len(rows) + 1, "name": newcomer_name, "email": "grace@navy.example.mil"}
    inserted = [{**newcomer, "score": 9_999}, *rows]
    update_title = f"change row {CHANGED_ROW}'s name"
    return [
        Scenario("update", update_title, page(rows), page(renamed), str(escape(new_name))),
        Scenario("insert", "insert a row at the top", page(rows), page(inserted), newcomer_name),
    ]


# -- checks and timing -----------------------------------------------------------------------


def check(engine: Engine | type[LiveViewRun], scenario: Scenario) -> Result:
    """Verify that ``engine``'s diff for ``scenario``, merged, gives the new page."""
    if isinstance(engine, Engine):
        previous = engine.render(scenario.old)
        diff = engine.event(previous, scenario.new)
    else:
        run = engine(scenario)
        previous = run.tree
        diff = run.event()
    old_html, new_html = render_jinja(scenario.old), render_jinja(scenario.new)
    problems = []
    if client_html(previous) != old_html:
        problems.append("its render differs from Jinja2's HTML")
    if new_html == old_html:
        problems.append("the event changes nothing")
    if client_html(previous, diff) != new_html:
        problems.append("the diff merged into the previous render does not give the new page")
    if scenario.expected not in json.dumps(diff, ensure_ascii=False):
        problems.append(f"the diff lacks {scenario.expected!r}")
    return {
        "scenario": scenario.name,
        "engine": engine.name,
        "ok": not problems,
        "problems": problems,
    }


class Run(t.NamedTuple):
    """One timed call: its label, function and arguments, and how to size its output."""

    call: str
    func: t.Callable[..., t.Any]
    args: tuple[t.Any, ...]
    size: t.Callable[[t.Any], int]


def html_bytes(html: str) -> int:
    """Size of an HTML page in UTF-8."""
    return len(html.encode())


def measure(runs: dict[str, Run], repeat: int) -> dict[str, Result]:
    """Median and min wall time (ms) of each run, and the size of its output.

    After ``WARMUP`` untimed rounds, the runs take turns for ``repeat`` timed
    rounds, so load from other processes weighs on every engine alike.
    """
    for _ in range(WARMUP):
        for run in runs.values():
            run.func(*run.args)
    gc.collect()
    samples: dict[str, list[int]] = {name: [] for name in runs}
    for _ in range(repeat):
        for name, run in runs.items():
            start = time.perf_counter_ns()
            run.func(*run.args)
            samples[name].append(time.perf_counter_ns() - start)
    return {
        name: {
            "call": run.call,
            "median_ms": statistics.median(samples[name]) / 1e6,
            "min_ms": min(samples[name]) / 1e6,
            "bytes": run.size(run.func(*run.args)),
        }
        for name, run in runs.items()
    }


def bench_join(context: Context, repeat: int) -> dict[str, Result]:
    """Time the first render; ``bytes`` is the join payload (Jinja2: the HTML)."""
    runs = {
        engine.name: Run(engine.render_call, engine.render, (context,), wire_bytes)
        for engine in TREE_ENGINES
    }
    runs["jinja2"] = Run(f"{JINJA_CALL} (HTML)", render_jinja, (context,), html_bytes)
    return measure(runs, repeat)


def bench_event(scenario: Scenario, repeat: int) -> dict[str, Result]:
    """Time render + diff against the previous render; ``bytes`` is the diff (Jinja2: HTML)."""
    runs = {}
    for engine in TREE_ENGINES:
        call = f"{engine.render_call} + {engine.diff_call}"
        args = (engine.render(scenario.old), scenario.new)
        runs[engine.name] = Run(call, engine.event, args, wire_bytes)
    runs[LiveViewRun.name] = Run(LiveViewRun.call, LiveViewRun(scenario).event, (), wire_bytes)
    runs["jinja2"] = Run(f"{JINJA_CALL} (HTML, no diff)", render_jinja, (scenario.new,), html_bytes)
    return measure(runs, repeat)


def bench_in_place(repeat: int) -> dict[str, Result]:
    """Time the in-place events, and Jinja2's HTML render of the 1,000 rows, taking turns."""
    runs = {
        name: Run(InPlaceRun.call, InPlaceRun(page(make_rows(count)), change).event, (), wire_bytes)
        for name, (count, change) in IN_PLACE.items()
    }
    runs["jinja2"] = Run(
        f"{JINJA_CALL} (HTML, 1k rows)", render_jinja, (page(make_rows(ROWS)),), html_bytes
    )
    return measure(runs, repeat)


def targets(results: dict[str, dict[str, Result]]) -> list[Result]:
    """The figures the project tracks: the one-row update event, then issue 16's."""
    update = results["update"]
    in_place = results["in place"]
    jinja_ms = in_place["jinja2"]["median_ms"]
    ours_ms = update["ours"]["median_ms"]
    view_ms = update[LiveViewRun.name]["median_ms"]
    measured = [
        ("ours / Jinja2 render (median)", ours_ms / update["jinja2"]["median_ms"], TARGET_VS_JINJA),
        ("ours / PyView (median)", ours_ms / update["pyview"]["median_ms"], TARGET_VS_PYVIEW),
        ("ours+memo / Jinja2 (median)", view_ms / update["jinja2"]["median_ms"], TARGET_VS_JINJA),
        ("ours+memo / PyView (median)", view_ms / update["pyview"]["median_ms"], TARGET_VS_PYVIEW),
        ("our diff bytes", update["ours"]["bytes"], TARGET_DIFF_BYTES),
        ("stateless event / Jinja2", ours_ms / update["jinja2"]["median_ms"], TARGET_STATELESS),
        (
            "tracked, in place / Jinja2",
            in_place["row 1k"]["median_ms"] / jinja_ms,
            TARGET_TRACKED,
        ),
        ("title only / Jinja2", in_place["title 1k"]["median_ms"] / jinja_ms, TARGET_TITLE),
        (
            "tracked 10k rows / 1k rows",
            in_place["row 10k"]["median_ms"] / in_place["row 1k"]["median_ms"],
            TARGET_BIG_VS_SMALL,
        ),
    ]
    return [
        {"name": name, "value": value, "limit": limit, "pass": value <= limit}
        for name, value, limit in measured
    ]


# -- report ----------------------------------------------------------------------------------


def report(data: dict[str, t.Any], out: t.TextIO) -> None:
    """Print the human-readable report."""

    def line(text: str = "") -> None:
        print(text, file=out)

    versions = data["versions"]
    line(f"LiveView rendered-tree diff benchmark: {data['rows']:,} rows x 4 cells")
    line(
        f"Python {versions['python']}, Jinja2 {versions['jinja2']}, "
        f"PyView {versions['pyview-web']}; "
        f"median / min of {data['repeat']} runs after {WARMUP} warm-up runs"
    )
    if versions["pyview-web"] != PYVIEW_VERSION:
        line(f"warning: targets are calibrated on PyView {PYVIEW_VERSION}")
    line()
    for item in data["checks"]:
        verdict = "PASS" if item["ok"] else "FAIL: " + "; ".join(item["problems"])
        name = f"{item['scenario']} {item['engine']}:"
        line(f"check {name:<15} diff merged into previous render == new page  {verdict}")
    line()
    titles = {"join": "join (initial render)  [bytes: join payload; Jinja2: HTML]"}
    for scenario, title in data["titles"].items():
        titles[scenario] = f"{title}: render + diff  [bytes: diff; Jinja2: HTML]"
    titles["in place"] = "context mutated in place: render + diff  [bytes: diff; Jinja2: HTML]"
    line(f"{'':<4}{'engine':<68}{'median ms':>10}{'min ms':>10}{'bytes':>10}")
    for scenario, title in titles.items():
        line(title)
        for engine, result in data["results"][scenario].items():
            label = f"{engine:<10}{result['call']}"
            line(
                f"    {label:<68}{result['median_ms']:>10.2f}{result['min_ms']:>10.2f}"
                f"{result['bytes']:>10,}"
            )
    line()
    join = data["results"]["join"]
    join_ratio = join["ours"]["median_ms"] / join["pyview"]["median_ms"]
    line(f"join payload bytes: ours {join['ours']['bytes']:,}, PyView {join['pyview']['bytes']:,}")
    line(f"join time, ours / PyView (median): {join_ratio:.2f}x")
    line()
    line(f"targets (event: {data['titles']['update']})")
    for item in data["targets"]:
        is_bytes = isinstance(item["value"], int)
        value = f"{item['value']:,} B" if is_bytes else f"{item['value']:.3f}x"
        limit = f"{item['limit']} B" if is_bytes else f"{item['limit']}x"
        verdict = "PASS" if item["pass"] else "FAIL"
        line(f"    {item['name']:<32}{value:>10}  (target <= {limit:<6})  {verdict}")
    update = data["results"]["update"]
    line(
        f"    on min times: ours / Jinja2 {_min_ratio(update, 'jinja2'):.2f}x, "
        f"ours / PyView {_min_ratio(update, 'pyview'):.2f}x"
    )


def _min_ratio(results: dict[str, Result], other: str) -> float:
    return float(results["ours"]["min_ms"] / results[other]["min_ms"])


def main(argv: list[str] | None = None) -> int:
    """Check every engine, run every benchmark, then print the report."""
    parser = command_line(__doc__)
    parser.add_argument(
        "--repeat", type=int, default=100, help="timed runs per measurement (default: 100)"
    )
    args = parser.parse_args(argv)

    def figures(_: Path) -> dict[str, t.Any]:
        gc.set_threshold(*GC_THRESHOLDS)
        rows = make_rows(ROWS)
        events = scenarios(rows)
        engines: list[Engine | type[LiveViewRun]] = [*TREE_ENGINES, LiveViewRun]
        checks = [check(engine, scenario) for scenario in events for engine in engines]
        checks += [check_in_place(name) for name in IN_PLACE]
        results = {"join": bench_join(page(rows), args.repeat)}
        for scenario in events:
            results[scenario.name] = bench_event(scenario, args.repeat)
        results["in place"] = bench_in_place(args.repeat)
        return {
            "rows": ROWS,
            "repeat": args.repeat,
            "warmup": WARMUP,
            "titles": {scenario.name: scenario.title for scenario in events},
            "checks": checks,
            "results": results,
            "targets": targets(results),
        }

    return run_bench("bench_diff", figures, report, args.json, ("jinja2", "pyview-web"))


if __name__ == "__main__":
    sys.exit(main())
