"""Benchmark uploads: one large file through one WebSocket, the server's memory, the file kept.

The script bakes the template (its default options) into a temporary
directory, migrates a fresh SQLite database there (``alembic upgrade head``)
and adds a few contacts (``python -m my_live_app.seed``). The server is that
app's own ``python -m my_live_app`` (its uvicorn options, its 1 MiB WebSocket
message limit) on a free port of 127.0.0.1, with its media folder in the
temporary directory.

The upload is the contact page's (``/contacts/<id>``): its ``files`` input
uploads as soon as files are chosen (``auto_upload``). The sample allows
10 MB per file, too little for the bench's file, so the baked copy (never
the template) is edited before the server starts: ``views/contacts/show.py``
gets a ``MAX_FILE_SIZE`` of 200 MB, and its ``allow_upload`` call a
``chunk_size`` from ``BENCH_UPLOAD_CHUNK_SIZE`` when that is set. The first
server leaves it unset (the runtime's default, 64,000 bytes); the second sets
512 KiB, the most ``allow_upload`` takes.

The client lives in this process and does what the official client does:
GET the page, open the WebSocket with the session cookie, ``phx_join``; then
the form's change event listing the file (``uploads``), the preflight
(``allow_upload``), the join of ``lvu:<entry ref>`` with the entry's token,
the file in binary ``chunk`` pushes of the preflight's ``chunk_size``, each
sent once the previous one is acknowledged, a ``progress`` push on the
view's topic whenever the whole percentage grows (not awaited before the next
chunk, as the client does not), and once every progress is answered and the
page shows the entry done, the ``save_files`` submit. A run opens its own page
and socket.

1. throughput, in MB/s (10^6 bytes a second): the chunks alone (the first
   chunk sent to the last one acknowledged), and end to end (the change event
   sent to the submit's reply: preflight, chunks, progress, the file moved
   into the media folder and its row committed). The median over the runs.
2. server memory: the server's resident memory (``VmRSS``, read from
   ``/proc/<pid>/statm``) by a thread of this script every few ms, from just
   before the change event to the submit's reply; growth is the peak less the
   baseline just before. The kernel's own peak (``VmHWM``, reset through
   ``/proc/<pid>/clear_refs`` before each run) catches most of what falls
   between samples; it is updated lazily, so the larger of the two counts.
   Beside them, the size of the temporary file (``.uploads/``) halfway
   through the chunks and when the last one was acknowledged: the bytes went
   to disk as they came.
3. the file kept: the attachment's row (its size), and the SHA-256 of the
   stored file against the bytes sent; ``.uploads/`` is empty after the
   submit. Each run then deletes the file through the page (``delete_file``).

Figures are measured in this process, so they include the client's own work
(masking frames, reading replies); the CPU columns say how busy the server,
this process and the rest of the machine were during the chunks: other work
on a machine with few cores shows in the figures. The
exit code is 0 whatever the figures say: this is a report, not a test; it is
1 only when the app cannot be baked, migrated, seeded or edited.

Usage: ``python bench/bench_uploads.py [--runs N] [--large-runs N] [--megabytes N] [--json]``
(``make bench-uploads BENCH_ARGS=...``); the defaults run in well under two minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import html
import importlib
import itertools
import json
import math
import os
import re
import sqlite3
import sys
import threading
import time
import typing as t
from dataclasses import dataclass, field
from pathlib import Path

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

import baking
from baking import PACKAGE, AppServer, bake
from figures import CpuMeter
from harness import BenchError, running, section
from results import command_line, run_bench
from wire import TIMEOUT, encode, hang_up, open_live

SECRET_KEY = "bench-uploads: a throwaway key for a local benchmark"
SEED_COUNT = 3
MB = 1_000_000
BENCH_MAX_FILE_SIZE = 200 * MB  # the baked copy's limit (the sample's is 10 MB)
LARGE_CHUNK = 512 * 1024  # allow_upload's most
CHUNK_ENV = "BENCH_UPLOAD_CHUNK_SIZE"
FILE_NAME = "bench-upload.pdf"
FILE_TYPE = "application/pdf"  # one the page accepts
AIM_MB_PER_S = 50  # the aims
AIM_GROWTH_MB = 10
SAMPLE_INTERVAL = 0.002  # seconds between two reads of the server's memory
SETTLE = 0.3  # seconds after a join before the baseline is read
RUN_TIMEOUT = 60.0  # seconds for one whole upload
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")

# The edits to the baked show.py: (what is there, what replaces it), each found exactly once.
SHOW_EDITS = (
    (
        "from dataclasses import dataclass, field\n",
        "import os\nfrom dataclasses import dataclass, field\n",
    ),
    (
        "MAX_FILE_SIZE = 10_000_000  # bytes\n",
        f"MAX_FILE_SIZE = {BENCH_MAX_FILE_SIZE:_}  # bytes (bench_uploads.py: was 10_000_000)\n",
    ),
    (
        "            auto_upload=True,\n        )\n",
        "            auto_upload=True,\n"
        f'            **({{"chunk_size": int(os.environ["{CHUNK_ENV}"])}}'
        f' if "{CHUNK_ENV}" in os.environ else {{}}),\n'
        "        )\n",
    ),
)


# -- the baked app ---------------------------------------------------------------------------


@dataclass(frozen=True)
class App(baking.App):
    """The baked project, its database and media folder, and its commands' environment."""

    media_dir: Path

    @property
    def uploads_dir(self) -> Path:
        """Where uploads in progress are written (the app's ``media_dir / ".uploads"``)."""
        return self.media_dir / ".uploads"

    def env(self, pubsub_url: str = "memory://", port: int = 0) -> dict[str, str]:
        """The settings as environment variables (they win over the bake's ``.env``)."""
        env = super().env(pubsub_url, port)
        env["MEDIA_DIR"] = str(self.media_dir)  # absolute: it wins over the project's root
        env.pop(CHUNK_ENV, None)
        return env

    def query(self, sql: str, *parameters: t.Any) -> list[tuple[t.Any, ...]]:
        """Rows of the app's database, read beside the server (SQLite allows it)."""
        with sqlite3.connect(self.database, timeout=TIMEOUT) as connection:
            return connection.execute(sql, parameters).fetchall()


def prepare(directory: Path) -> App:
    """Bake the template with its defaults, edit the copy's upload limits, migrate, seed."""
    root = bake(directory)
    edit_show_view(root / "src" / PACKAGE / "views" / "contacts" / "show.py")
    app = App(root, directory / "uploads.db", SECRET_KEY, directory / "media")
    app.migrate_and_seed(SEED_COUNT)
    return app


def edit_show_view(path: Path) -> None:
    """The baked contact page: a larger file limit, and a chunk size from the environment."""
    source = path.read_text()
    for old, new in SHOW_EDITS:
        if source.count(old) != 1:
            raise BenchError(f"{path.name} has changed: cannot find {old.strip()!r} once")
        source = source.replace(old, new)
    path.write_text(source)


# -- the server ------------------------------------------------------------------------------


class Server(AppServer):
    """The app with its ``allow_upload`` given ``chunk_size`` (None: the runtime's default)."""

    app: App

    def __init__(self, app: App, chunk_size: int | None) -> None:
        super().__init__("the server", app)
        self.chunk_size = chunk_size

    def environment(self) -> dict[str, str]:
        env = super().environment()
        if self.chunk_size is not None:
            env[CHUNK_ENV] = str(self.chunk_size)
        return env


# -- the server's memory ---------------------------------------------------------------------


def vmhwm_kb(pid: int) -> int:
    """``VmHWM``, the peak of ``pid``'s resident memory, in kB, from ``/proc/<pid>/status``."""
    found = re.search(r"^VmHWM:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M)
    if found is None:
        raise BenchError("no VmHWM in /proc/<pid>/status")
    return int(found.group(1))


def reset_peak(pid: int) -> bool:
    """Set ``pid``'s ``VmHWM`` to its ``VmRSS`` now (``clear_refs`` 5); False if not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def rss_kb(pid: int) -> int:
    """``VmRSS`` alone, from ``/proc/<pid>/statm`` (cheaper to read than ``status``)."""
    return int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE_SIZE // 1024


def temporary_bytes(directory: Path) -> int:
    """The bytes of the uploads in progress (``.upload`` files) in ``directory``."""
    try:
        with os.scandir(directory) as entries:
            return sum(entry.stat().st_size for entry in entries if entry.is_file())
    except FileNotFoundError:
        return 0


class MemorySampler(threading.Thread):
    """Reads the server's resident memory and its temporary files every few ms, until stopped.

    A thread, so that it samples while the event loop waits on the socket.
    """

    def __init__(self, pid: int, uploads_dir: Path) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self.pid = pid
        self.uploads_dir = uploads_dir
        self.samples: list[tuple[float, int, int]] = []  # (perf_counter, rss kB, temp bytes)
        self._stopped = threading.Event()

    def run(self) -> None:
        while not self._stopped.is_set():
            try:
                rss = rss_kb(self.pid)
            except (OSError, ValueError, IndexError):
                return  # the server is gone
            self.samples.append((time.perf_counter(), rss, temporary_bytes(self.uploads_dir)))
            self._stopped.wait(SAMPLE_INTERVAL)

    def stop(self) -> None:
        self._stopped.set()
        if self.ident is not None:  # started
            self.join(TIMEOUT)

    def between(self, start: float, end: float) -> list[tuple[float, int, int]]:
        return [sample for sample in self.samples if start <= sample[0] <= end]


# -- the client ------------------------------------------------------------------------------

FILE_INPUT = re.compile(r'<input id="([^"]+)" type="file" name="files"[^>]*>')
ATTRIBUTE = '{}="([^"]*)"'


Reply = tuple[str, dict[str, t.Any]]  # a phx_reply's status and response


def binary_push(join_ref: str, ref: str, topic: str, event: str, payload: t.Any) -> bytes:
    """Phoenix's binary push (kind 0): the four sizes, the four strings, the raw payload."""
    fields = [text.encode() for text in (join_ref, ref, topic, event)]
    return bytes([0, *(len(text) for text in fields)]) + b"".join(fields) + payload


@dataclass
class Page:
    """The contact page in one tab: its socket, the replies awaited, the tree as merged."""

    port: int
    path: str
    ws: ClientConnection | None = None
    channel: str = ""
    join_ref: str = ""
    problems: list[str] = field(default_factory=list)
    _page: t.Any = None  # live.testing.rendered.Rendered
    _unmerged: list[dict[str, t.Any]] = field(default_factory=list)  # diffs in arrival order
    _pending: dict[str, asyncio.Future[Reply]] = field(default_factory=dict)
    _refs: t.Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)  # its reader

    async def open(self) -> None:
        """GET the page, connect its socket and join its view, as the browser does."""
        # The app turns permessage-deflate off.
        opened = await open_live(self.port, self.path, compression=None, max_size=None)
        self.ws, self.channel = opened.ws, opened.channel
        self._tasks.append(asyncio.create_task(self._read()))
        self.join_ref = self.next_ref()
        status, response = await self.call(self.channel, "phx_join", opened.join, self.join_ref)
        if status != "ok":
            raise BenchError(f"join of {self.path} refused: {str(response)[:200]}")
        rendered = importlib.import_module(f"{PACKAGE}.live.testing.rendered").Rendered
        self._page = rendered(response["rendered"])

    def next_ref(self) -> str:
        return str(next(self._refs))

    async def push(
        self, topic: str, event: str, payload: t.Any, join_ref: str | None = None
    ) -> asyncio.Future[Reply]:
        """Send a push (binary when ``payload`` is bytes); the future of its reply."""
        assert self.ws is not None
        ref = self.next_ref()
        join_ref = join_ref or (ref if event == "phx_join" else self.join_ref)
        reply: asyncio.Future[Reply]
        reply = self._pending[ref] = asyncio.get_running_loop().create_future()
        if isinstance(payload, bytes | memoryview):
            await self.ws.send(binary_push(join_ref, ref, topic, event, payload))
        else:
            await self.ws.send(encode([join_ref, ref, topic, event, payload]))
        return reply

    async def call(
        self, topic: str, event: str, payload: t.Any, join_ref: str | None = None
    ) -> Reply:
        """Push and await the reply: its status and response."""
        async with asyncio.timeout(TIMEOUT):
            return await (await self.push(topic, event, payload, join_ref))

    def html(self) -> str:
        """The page's HTML with every diff so far merged, in the order they arrived."""
        rendered = type(self._page)
        while self._unmerged:
            self._page.merge(rendered.extract(self._unmerged.pop(0)).diff)
        return str(self._page.html)

    async def _read(self) -> None:
        assert self.ws is not None
        try:
            async for text in self.ws:
                _, ref, topic, event, payload = json.loads(text)
                if event == "phx_reply":
                    response = payload.get("response") or {}
                    if topic == self.channel and isinstance(response.get("diff"), dict):
                        self._unmerged.append(response["diff"])
                    waiting = self._pending.pop(ref, None)
                    if waiting is not None and not waiting.done():
                        waiting.set_result((payload.get("status"), response))
                elif event == "diff" and topic == self.channel:
                    self._unmerged.append(payload)
                elif topic != "phoenix":
                    self.problems.append(f"server sent {event} on {topic}")
        except Exception as exc:  # the connection dropped: say so in the report
            self.problems.append(f"connection lost: {type(exc).__name__}")

    async def close(self) -> None:
        """Drop the connection (a closed tab)."""
        hang_up(self.ws, self._tasks)
        await asyncio.sleep(0.1)  # let the server see the disconnect


def input_attribute(page_html: str, name: str) -> str:
    """An attribute of the page's ``files`` input (``""`` when it has none)."""
    found = FILE_INPUT.search(page_html)
    if found is None:
        raise BenchError("the contact page has no file input named files")
    value = re.search(ATTRIBUTE.format(re.escape(name)), found.group())
    return "" if value is None else html.unescape(value.group(1))


# -- one upload ------------------------------------------------------------------------------


@dataclass
class Upload:
    """The file a run sends: its bytes and their hash."""

    data: bytes
    sha256: str

    @classmethod
    def random(cls, size: int) -> Upload:
        data = os.urandom(size)
        return cls(data, hashlib.sha256(data).hexdigest())

    def entry(self, ref: str) -> dict[str, t.Any]:
        """The file as the client describes it (``serializeUploads``)."""
        return {
            "path": "files", "ref": ref, "last_modified": 1_700_000_000_000,
            "name": FILE_NAME, "relative_path": "", "type": FILE_TYPE, "size": len(self.data),
        }  # fmt: skip


async def upload_once(server: Server, contact_id: int, upload: Upload) -> dict[str, t.Any]:
    """Open the contact page, upload the file as the client does, save it; figures and checks."""
    page = Page(server.port, f"/contacts/{contact_id}")
    sampler = MemorySampler(server.pid, server.app.uploads_dir)
    try:
        await page.open()
        sampler.start()
        await asyncio.sleep(SETTLE)
        async with asyncio.timeout(RUN_TIMEOUT):
            result = await _upload(page, server, upload, sampler)
        result["problems"] = page.problems
        return result
    finally:
        sampler.stop()
        await page.close()


async def _upload(
    page: Page, server: Server, upload: Upload, sampler: MemorySampler
) -> dict[str, t.Any]:
    """The official client's steps, from choosing the file to the submit's reply."""
    size, entry_ref = len(upload.data), "0"  # the page's first file: the client's counter
    upload_ref = input_attribute(page.html(), "data-phx-upload-ref")
    baseline = rss_kb(server.pid)
    peak_reset = reset_peak(server.pid)
    started = time.perf_counter()

    # 1. The form's change event, with the file chosen.
    change = {
        "type": "form", "event": "validate_files", "value": "", "meta": {"_target": "files"},
        "uploads": {upload_ref: [upload.entry(entry_ref)]},
    }  # fmt: skip
    status, response = await page.call(page.channel, "event", change)
    active = input_attribute(page.html(), "data-phx-active-refs")
    if status != "ok" or active != entry_ref:
        raise BenchError(f"the change event: {status}, active refs {active!r}: {response}")

    # 2. The preflight: the upload's config and the entry's token.
    preflight = {"ref": upload_ref, "entries": [upload.entry(entry_ref)]}
    status, response = await page.call(page.channel, "allow_upload", preflight)
    token = (response.get("entries") or {}).get(entry_ref)
    if status != "ok" or not isinstance(token, str):
        raise BenchError(f"the preflight: {status}, {str(response)[:300]}")
    chunk_size = int(response["config"]["chunk_size"])

    # 3. The entry's upload channel.
    topic = f"lvu:{entry_ref}"
    upload_join = page.next_ref()
    status, response = await page.call(topic, "phx_join", {"token": token}, upload_join)
    if status != "ok":
        raise BenchError(f"the join of {topic}: {status}, {response}")

    # 4. The chunks, each after the last one's ack; progress as the percentage grows.
    view = memoryview(upload.data)
    progress: list[asyncio.Future[Reply]] = []
    reported = 0
    cpu = CpuMeter([server])
    first_chunk = time.perf_counter()
    offset = 0
    while offset < size:
        chunk = view[offset : offset + chunk_size]
        status, response = await page.call(topic, "chunk", chunk, upload_join)
        if status != "ok":
            raise BenchError(f"chunk at {offset:,}: {status}, {response}")
        offset += len(chunk)
        percent = offset * 100 // size
        if percent > reported:
            reported = percent
            payload = {"event": None, "ref": upload_ref, "entry_ref": entry_ref}
            payload["progress"] = percent
            progress.append(await page.push(page.channel, "progress", payload))
    last_ack = time.perf_counter()
    cpu_use = cpu.used()
    temporary = temporary_bytes(server.app.uploads_dir)

    # 5. Every progress answered, and the page shows the entry done: the form may be sent.
    answers = await asyncio.wait_for(asyncio.gather(*progress), TIMEOUT)
    refused = [response for status, response in answers if status != "ok"]
    page_html = page.html()
    done = input_attribute(page_html, "data-phx-done-refs")
    preflighted = input_attribute(page_html, "data-phx-preflighted-refs")
    if refused or done != entry_ref or preflighted != entry_ref:
        raise BenchError(f"after the chunks: done {done!r}, preflighted {preflighted!r}, {refused}")

    # 6. The submit: the file moved into the media folder and recorded.
    submit = {"type": "form", "event": "save_files", "value": "", "meta": {}}
    status, response = await page.call(page.channel, "event", submit)
    ended = time.perf_counter()
    peak_kb = vmhwm_kb(server.pid) if peak_reset else 0
    if status != "ok":
        raise BenchError(f"save_files: {status}, {str(response)[:300]}")
    samples = sampler.between(started, ended)
    kept = await check_kept(page, server.app, upload)
    elapsed = last_ack - first_chunk
    return {
        "chunk_size": chunk_size,
        "chunks": math.ceil(size / chunk_size),
        "progress_pushes": len(progress),
        "chunks_seconds": elapsed,
        "chunks_mb_per_s": size / MB / elapsed,
        "end_to_end_mb_per_s": size / MB / (ended - started),
        "server_cpu_percent": 100 * cpu_use.servers / elapsed,
        "bench_cpu_percent": 100 * cpu_use.own / elapsed,
        "other_cpu_percent": 100 * cpu_use.other / elapsed,
        "memory": {
            "samples": len(samples),
            "baseline_kb": baseline,
            "peak_kb": max((rss for _, rss, _ in samples), default=baseline),
            "vmhwm_kb": peak_kb or None,
            "temporary_bytes_at_last_ack": temporary,
            "temporary_bytes_at_half": next(
                (temp for when, _, temp in samples if when >= (first_chunk + last_ack) / 2), None
            ),
        },
        **kept,
    }


async def check_kept(page: Page, app: App, upload: Upload) -> dict[str, t.Any]:
    """The row and the stored file the submit made; then the file deleted through the page."""
    rows = app.query("SELECT id, size, stored_name FROM attachments ORDER BY id DESC LIMIT 1")
    if not rows:
        raise BenchError("save_files recorded no attachment")
    attachment_id, row_bytes, stored_name = rows[0]
    stored = app.media_dir / stored_name
    digest = hashlib.sha256()
    with stored.open("rb") as file:
        while block := file.read(1 << 20):
            digest.update(block)
    kept = {
        "stored_bytes": stored.stat().st_size,
        "row_bytes": row_bytes,
        "sha256_match": digest.hexdigest() == upload.sha256,
        "uploads_left": len(list(app.uploads_dir.iterdir())) if app.uploads_dir.exists() else 0,
        "shown_on_page": f'id="file-{attachment_id}"' in page.html(),
    }
    # The page's delete link (phx-click="delete_file" phx-value-id), so runs do not pile up.
    click = {"type": "click", "event": "delete_file", "value": {"id": str(attachment_id)}}
    status, _ = await page.call(page.channel, "event", click)
    kept["deleted"] = status == "ok" and not stored.exists()
    return kept


# -- runs ------------------------------------------------------------------------------------


def median(values: list[float]) -> float:
    """The median of ``values``; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


async def series(app: App, chunk_size: int | None, runs: int, upload: Upload) -> dict[str, t.Any]:
    """``runs`` uploads to one server, one page and socket each; their figures."""
    server = Server(app, chunk_size)
    async with running(server):
        contact_id = app.query("SELECT id FROM contacts ORDER BY id LIMIT 1")[0][0]
        results = [await upload_once(server, contact_id, upload) for _ in range(runs)]
    return {
        "chunk_size": results[0]["chunk_size"],
        "given_to_allow_upload": chunk_size is not None,
        "runs": results,
        "median_chunks_mb_per_s": median([run["chunks_mb_per_s"] for run in results]),
        "median_end_to_end_mb_per_s": median([run["end_to_end_mb_per_s"] for run in results]),
        "server_log": server.warnings(),
    }


async def run(app: App, args: argparse.Namespace, upload: Upload) -> dict[str, t.Any]:
    data: dict[str, t.Any] = {"series": []}
    for chunk_size, runs in ((None, args.runs), (LARGE_CHUNK, args.large_runs)):
        if runs > 0:
            work = series(app, chunk_size, runs, upload)
            data["series"].append(await section(work, WebSocketException))
    return data


# -- report ----------------------------------------------------------------------------------


def mb(kilobytes: int) -> str:
    """kB (KiB, as /proc counts) in MB."""
    return f"{kilobytes * 1024 / MB:,.1f}"


def growth_kb(memory: dict[str, t.Any]) -> int:
    """The larger of the sampled peak and the kernel's, less the baseline."""
    return max(memory["peak_kb"], memory["vmhwm_kb"] or 0) - memory["baseline_kb"]


def report(data: dict[str, t.Any], out: t.TextIO) -> None:
    """Print the human-readable tables."""

    def line(text: str = "") -> None:
        print(text, file=out)

    def row(cells: list[str], widths: list[int]) -> None:
        texts = [cell.rjust(width) for cell, width in zip(cells, widths, strict=True)]
        line("   " + cells[0].ljust(widths[0]) + "".join(texts[1:]))

    versions, size = data["versions"], data["file_bytes"]
    line(
        f"Uploads benchmark ({data['seconds']:.0f} s): Python {versions['python']}, uvicorn "
        f"{versions['uvicorn']}, websockets {versions['websockets']}, {versions['cpus']} CPUs;\n"
        f"load average {data['load_average']}. One {size:,}-byte file ({size / MB:g} MB) a run,\n"
        "to the baked app's contact page (its `files` input, auto upload)."
    )
    line("Edited in the baked copy's views/contacts/show.py (not in the template): MAX_FILE_SIZE")
    line(f"is {BENCH_MAX_FILE_SIZE:,} bytes (the sample's 10,000,000 is too small for the file);")
    line(f"allow_upload gets chunk_size={LARGE_CHUNK:,} in the second series (the first: default).")
    done = [series for series in data["series"] if "skipped" not in series]
    for series in data["series"]:
        if "skipped" in series:
            line(f"   ! a series was skipped: {series['skipped']}")

    line()
    line("1. throughput through one WebSocket on loopback, MB/s (10^6 bytes/s; aim >= 50)")
    widths = [20, 5, 8, 8, 8, 12, 10, 8, 7, 7]
    row(["chunk size", "runs", "chunks", "min", "max", "end to end", "progress", "server",
         "bench", "other"], widths)  # fmt: skip
    for series in done:
        runs = series["runs"]
        speeds = [run["chunks_mb_per_s"] for run in runs]
        name = f"{series['chunk_size']:,} B"
        name += "" if series["given_to_allow_upload"] else " (default)"
        row(
            [
                name, str(len(runs)), f"{series['median_chunks_mb_per_s']:.1f}",
                f"{min(speeds):.1f}", f"{max(speeds):.1f}",
                f"{series['median_end_to_end_mb_per_s']:.1f}",
                str(runs[0]["progress_pushes"]),
                f"{median([run['server_cpu_percent'] for run in runs]):.0f}%",
                f"{median([run['bench_cpu_percent'] for run in runs]):.0f}%",
                f"{median([run['other_cpu_percent'] for run in runs]):.0f}%",
            ],
            widths,
        )  # fmt: skip
    line("   chunks: the first chunk sent to the last acknowledged, median (min, max) of the runs;")
    line("   end to end: the change event to save_files' reply (preflight, progress, the move and")
    line("   the row included), median; progress: pushes a run; server, bench, other: CPU in % of")
    line("   one core during the chunks, median (other: the rest of the machine).")
    for series in done:
        speed = series["median_chunks_mb_per_s"]
        verdict = "met" if speed >= AIM_MB_PER_S else "MISSED"
        line(f"   aim >= {AIM_MB_PER_S} MB/s with {series['chunk_size']:,} B chunks: {verdict}")

    line()
    line(
        f"2. server memory, MB: VmRSS every {SAMPLE_INTERVAL * 1000:g} ms from the change event "
        f"to the\n   save's reply, and VmHWM (aim: growth < {AIM_GROWTH_MB} MB)"
    )
    widths = [20, 5, 10, 8, 8, 8, 9, 14, 13]
    row(["chunk size", "run", "baseline", "peak", "VmHWM", "growth", "samples",
         "temp at half", "temp at end"], widths)  # fmt: skip
    for series in done:
        for number, result in enumerate(series["runs"], 1):
            memory = result["memory"]
            half = memory["temporary_bytes_at_half"]
            row(
                [
                    f"{series['chunk_size']:,} B", str(number), mb(memory["baseline_kb"]),
                    mb(memory["peak_kb"]),
                    "-" if memory["vmhwm_kb"] is None else mb(memory["vmhwm_kb"]),
                    mb(growth_kb(memory)), str(memory["samples"]),
                    "-" if half is None else f"{half:,}",
                    f"{memory['temporary_bytes_at_last_ack']:,}",
                ],
                widths,
            )  # fmt: skip
    every = [result for series in done for result in series["runs"]]
    if every:
        worst = max(growth_kb(result["memory"]) for result in every)
        verdict = "met" if worst * 1024 < AIM_GROWTH_MB * MB else "MISSED"
        line(f"   largest growth: {mb(worst)} MB, aim < {AIM_GROWTH_MB} MB: {verdict}.")
    line("   growth: the larger of the two peaks (sampled, VmHWM) less the baseline;")
    line("   temp: bytes of the upload's temporary file (.uploads/) halfway through the chunks'")
    line("   time and when the last chunk was acknowledged: the file goes to disk as it comes.")

    line()
    line("3. the file kept (after save_files)")
    for series in done:
        for number, result in enumerate(series["runs"], 1):
            stored, row_bytes = result["stored_bytes"], result["row_bytes"]
            checks = [
                f"sha256 {'matches' if result['sha256_match'] else 'DIFFERS'}",
                f"{stored:,} B stored and recorded"
                if stored == row_bytes == data["file_bytes"]
                else f"{stored:,} B stored, {row_bytes:,} B recorded",
                f".uploads/ {'empty' if result['uploads_left'] == 0 else 'NOT empty'}",
                "listed" if result["shown_on_page"] else "NOT listed",
                "deleted" if result["deleted"] else "NOT deleted",
            ]
            line(f"   {series['chunk_size']:,} B #{number}: " + "; ".join(checks))
            for problem in result["problems"]:
                line(f"      ! {problem}")
        for text in series["server_log"]:
            line(f"      ! the server logged: {text}")


# -- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Bake, edit, migrate and seed; upload; print the report; remove everything."""
    parser = command_line(__doc__)
    parser.add_argument("--runs", type=int, default=5, help="uploads with the default chunk")
    parser.add_argument(
        "--large-runs", type=int, default=3, help=f"uploads with {LARGE_CHUNK:,}-byte chunks"
    )
    parser.add_argument("--megabytes", type=int, default=50, help="the file's size, in 10^6 bytes")
    args = parser.parse_args(argv)
    if not (args.runs >= 0 and args.large_runs >= 0 and args.runs + args.large_runs > 0):
        parser.error("--runs and --large-runs must be 0 or more, and not both 0")
    if not 0 < args.megabytes * MB <= BENCH_MAX_FILE_SIZE:
        parser.error(f"--megabytes must be from 1 to {BENCH_MAX_FILE_SIZE // MB}")

    def figures(directory: Path) -> dict[str, t.Any]:
        upload = Upload.random(args.megabytes * MB)
        app = prepare(directory)
        return {
            "file_bytes": len(upload.data),
            "max_file_size": BENCH_MAX_FILE_SIZE,
            **asyncio.run(run(app, args, upload)),
        }

    return run_bench("bench_uploads", figures, report, args.json, ("uvicorn", "websockets"))


if __name__ == "__main__":
    sys.exit(main())
