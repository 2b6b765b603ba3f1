"""Benchmark a team on one list: many people on ``/contacts`` while one of them saves every second.

The same scenario runs against two bakes, each with its own server and its own
freshly seeded SQLite database, in one run: the template as it was at
``--before`` (a git commit, by default the one before the list shared its
queries) and the template as it is in this checkout. For each:

1. joins: ``--viewers`` tabs open ``/contacts`` (its first page of 20, by
   name), ``--opening`` at a time (a tab starts as soon as another has
   joined); a join is timed from its GET leaving this process to its
   ``phx_join`` reply arriving. Each join is also a presence every other tab's
   who's-here panel hears.
2. saves: one more person, on the edit form of a contact the list shows,
   saves it with a new company once a second (``--saves`` times after a
   warm-up). Timed: the writer's own reply (a ``live_redirect``), and each
   viewer's diff with the new company, from the save leaving this process.

The server is the bake's own ``python -m my_live_app`` with ``memory://`` (one
process), as ``make run`` serves it. The tabs live in this process; the CPU
columns say how busy this process, the server and the rest of the machine were
while timing (other work on a 2-core machine shows in the figures), and the
server's CPU per join and per save: the figure the rest of the machine moves
least. The exit
code is 0 whatever the figures say: this is a report, not a test; it is 1 only
when an app cannot be baked, migrated or seeded.

Usage: ``python bench/bench_team.py [--viewers N] [--saves N] [--opening N] [--before REF]
[--json]`` (``make bench-team BENCH_ARGS=...``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
import typing as t
from collections import Counter
from pathlib import Path

from baking import App, AppServer, bake
from bench_contacts import ROW_IDS, SECRET_KEY, SEED_COUNT, Received, Tab, form_values
from figures import CpuMeter, latency
from harness import TEMPLATE, BenchError, running, section
from results import Row, columns, command_line, ms, run_bench
from wire import TIMEOUT

# The last commit before the contact list shared its queries and its writer stopped waiting.
BEFORE = "169498b"
LIST_PATH = "/contacts"
EDITED_ROW = 5  # the writer edits the contact on this row of the list's first page
WARMUP_SAVES = 3
SAVE_INTERVAL = 1.0  # seconds between the writer's saves


def template_at(ref: str, directory: Path) -> Path:
    """The template as it was at ``ref`` (``git archive``), unpacked into ``directory``."""
    directory.mkdir(parents=True)
    try:
        archive = subprocess.run(
            ["git", "-C", str(TEMPLATE), "archive", ref],
            check=True,
            capture_output=True,
        )
        subprocess.run(["tar", "-x", "-C", str(directory)], input=archive.stdout, check=True)
    except subprocess.CalledProcessError as exc:
        raise BenchError(
            f"git archive {ref}: {exc.stderr.decode(errors='replace')[-300:]}"
        ) from exc
    return directory


def prepare(directory: Path, template: Path) -> App:
    """Bake ``template`` with its defaults, migrate a new SQLite database, seed it."""
    app = App(bake(directory, template, importable=False), directory / "contacts.db", SECRET_KEY)
    app.migrate_and_seed(SEED_COUNT)
    return app


async def diff_with(tab: Tab, text: str) -> Received:
    """The next diff whose JSON holds ``text`` (presence diffs before it are passed over)."""
    async with asyncio.timeout(TIMEOUT):
        while True:
            push = await tab.diffs.get()
            if text in json.dumps(push.payload, ensure_ascii=False):
                return push


def drain(tab: Tab) -> None:
    """Forget the diffs ``tab`` got so far (presence, earlier saves)."""
    while not tab.diffs.empty():
        tab.diffs.get_nowait()


async def join_all(server: AppServer, viewers: int, opening: int) -> tuple[list[Tab], list[float]]:
    """``viewers`` tabs on the list, ``opening`` at a time: the tabs, and each one's join time."""
    tabs = [Tab(server.port, LIST_PATH) for _ in range(viewers)]
    times: list[float] = []
    waiting = iter(tabs)

    async def person() -> None:
        for tab in waiting:
            started = time.perf_counter()
            await tab.open()
            times.append(time.perf_counter() - started)

    await asyncio.gather(*(person() for _ in range(opening)))
    return tabs, times


async def save_rounds(
    server: AppServer, edit_path: str, viewers: list[Tab], saves: int
) -> dict[str, t.Any]:
    """The writer saves once a second; its replies, and every viewer's diff with the change.

    A save's reply sends the writer to the contact's page, and a form saves
    over the version it loaded: each save is made from the edit form opened
    anew, as the person would (not timed).
    """
    replies: list[float] = []
    updates: list[float] = []
    refused = 0
    problems: Counter[str] = Counter()
    next_save = time.perf_counter()
    cpu = CpuMeter([server])
    for number in range(-WARMUP_SAVES, saves):
        editor = Tab(server.port, edit_path)
        await editor.open()
        try:
            if number == 0:
                cpu = CpuMeter([server])
            await asyncio.sleep(max(0.0, next_save - time.perf_counter()))
            next_save = max(next_save + SAVE_INTERVAL, time.perf_counter())
            for tab in viewers:
                drain(tab)
            company = f"Team {number + WARMUP_SAVES:04d}"
            values = {**form_values(editor.page_html), "company": company}
            sent, reply = await editor.submit("save", values)
            if "live_redirect" not in reply.payload.get("response", {}):
                refused += 1
                continue
            pushes = await asyncio.gather(*(diff_with(tab, company) for tab in viewers))
        finally:
            editor.close()
            problems += editor.problems
        if number >= 0:
            replies.append(reply.arrived - sent)
            updates.extend(push.arrived - sent for push in pushes)
    return {
        "update": latency(updates),
        "reply": latency(replies),
        **cpu.percent(),
        "server_cpu_ms_each": 1000 * cpu.used().servers / max(1, len(replies)),
        "refused": refused,
        "problems": problems,
    }


async def team(app: App, viewers: int, saves: int, opening: int) -> dict[str, t.Any]:
    """Joins, then saves, on one server process of ``app``."""
    server = AppServer("server", app, "memory://")
    async with running(server):
        cpu = CpuMeter([server])
        started = time.perf_counter()
        tabs, joins = await join_all(server, viewers - 1, opening)
        joined = {
            **latency(joins),
            **cpu.percent(),
            "server_cpu_ms_each": 1000 * cpu.used().servers / len(joins),
            "seconds": time.perf_counter() - started,
        }
        try:
            ids = ROW_IDS.findall(tabs[0].page_html)
            if len(ids) < EDITED_ROW:
                raise BenchError(f"GET {LIST_PATH} shows {len(ids)} rows")
            edit_path = f"/contacts/{ids[EDITED_ROW - 1]}/edit"
            saved = await save_rounds(server, edit_path, tabs, saves)
        finally:
            for tab in tabs:
                tab.close()
            await asyncio.sleep(0.2)  # let the server see the disconnects before it is stopped
    for tab in tabs:
        saved["problems"] += tab.problems
    return {
        "join": joined,
        **saved,
        "problems": dict(saved["problems"]),
        "server_log": server.warnings(),
    }


# -- report ----------------------------------------------------------------------------------


def cpu_of(result: dict[str, t.Any]) -> dict[str, float]:
    """The CPU figures of a result."""
    return {key: value for key, value in result.items() if "_cpu_" in key}


def report(data: dict[str, t.Any], out: t.TextIO) -> None:
    """Print the human-readable table."""

    def line(text: str = "") -> None:
        print(text, file=out)

    def cpu(figure: dict[str, t.Any]) -> str:
        shares = " / ".join(
            f"{figure[f'{who}_cpu_percent']:.0f}%" for who in ("server", "bench", "other")
        )
        return f"   {shares}; server {figure['server_cpu_ms_each']:.0f} ms each"

    header: Row = [("what", 30), ("samples", 8), ("p50 ms", 9), ("p99 ms", 9), ("max ms", 9)]
    line(
        f"Team benchmark ({data['seconds']:.0f} s): Python {data['versions']['python']}, "
        f"{data['versions']['cpus']} CPUs; load average {data['load_average']}"
    )
    line(
        f"{data['viewers']} people on {LIST_PATH} (one of them saving once a second), "
        f"{SEED_COUNT} contacts in SQLite, one process (memory://)"
    )
    line("target: update p99 < 150 ms, the writer's reply p99 < 50 ms, join p99 < 500 ms")
    for name in ("before", "after"):
        result = data[name]
        line()
        line(f"{name}: {data['refs'][name]}")
        if "skipped" in result:
            line(f"   skipped: {result['skipped']}")
            continue
        line(columns(header) + "   CPU: server / bench / other")
        join = result["join"]
        figures = (
            (f"join ({data['opening']} opening at once)", join),
            ("update (every viewer's diff)", {**result["update"], **cpu_of(result)}),
            ("the writer's reply", result["reply"]),
        )
        for what, figure in figures:
            texts = [what, str(figure["samples"])]
            texts += [ms(figure[key]) for key in ("p50_ms", "p99_ms", "max_ms")]
            cells = list(zip(texts, [width for _, width in header], strict=True))
            line(columns(cells) + (cpu(figure) if "server_cpu_percent" in figure else ""))
        line(f"   {join['samples']} joins took {join['seconds']:.1f} s")
        if result["refused"]:
            line(f"      ! {result['refused']} saves refused")
        for problem, count in result["problems"].items():
            line(f"      ! {count} x {problem}")
        for text in result["server_log"]:
            line(f"      ! server logged: {text}")


# -- main ------------------------------------------------------------------------------------


async def run(args: argparse.Namespace, directory: Path) -> dict[str, t.Any]:
    data: dict[str, t.Any] = {}
    templates = {"before": lambda: template_at(args.before, directory / "before-template")}
    templates["after"] = lambda: TEMPLATE
    for name, template in templates.items():
        try:
            app = prepare(directory / name, template())
        except BenchError as exc:
            data[name] = {"skipped": str(exc)}
            continue
        data[name] = await section(team(app, args.viewers, args.saves, args.opening))
    return data


def main(argv: list[str] | None = None) -> int:
    """Bake both templates, run the scenario on each, print the report, remove everything."""
    parser = command_line(__doc__)
    parser.add_argument("--viewers", type=int, default=200, help="people, the writer included")
    parser.add_argument("--saves", type=int, default=30, help="saves timed, one a second")
    parser.add_argument("--opening", type=int, default=10, help="tabs opening at any moment")
    parser.add_argument("--before", default=BEFORE, help="the git commit to compare with")
    args = parser.parse_args(argv)
    if not (args.viewers > EDITED_ROW and args.saves > 0 and args.opening > 0):
        parser.error(f"--viewers must be above {EDITED_ROW}, --saves and --opening above 0")

    def figures(directory: Path) -> dict[str, t.Any]:
        refs = {"before": args.before, "after": "this checkout"}
        setup = {"viewers": args.viewers, "opening": args.opening, "refs": refs}
        return {**setup, **asyncio.run(run(args, directory))}

    return run_bench("bench_team", figures, report, args.json, ("uvicorn", "sqlalchemy"))


if __name__ == "__main__":
    sys.exit(main())
