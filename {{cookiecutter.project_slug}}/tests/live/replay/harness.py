"""Drive the official LiveView client's merge code from Python tests.

The JS client is the specification of the wire format: a diff is right only if
the client, merging it into what it already holds, renders the same HTML as a
fresh render. ``ReplayClient`` bundles the client's own ``rendered.js`` (the
pinned ``phoenix_live_view`` in ``assets/node_modules``) with the project's
esbuild, and keeps one Node process running ``replay.mjs`` for the session.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import typing as t
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[3] / "assets"
ESBUILD = ASSETS / "node_modules" / ".bin" / "esbuild"
RENDERED_JS = (
    ASSETS
    / "node_modules"
    / "phoenix_live_view"
    / "assets"
    / "js"
    / "phoenix_live_view"
    / "rendered.js"
)
REPLAY_JS = Path(__file__).with_name("replay.mjs")

Tree = dict[str, t.Any]


class Case(t.TypedDict, total=False):
    """A join, the diffs that follow it, and optionally the full tree of every state.

    ``prunes[i]`` are the cids the client forgets (``cids_destroyed``'s reply)
    before it merges ``diffs[i]``.
    """

    join: Tree
    diffs: list[Tree]
    fulls: list[Tree]
    prunes: list[list[int]]


class Result(t.TypedDict):
    """HTML after the join and each diff, and the stream operations of each of those
    renders (``[ref, inserts, deletes(, reset)]``); HTML of a fresh client per full tree."""

    html: list[str]
    fulls: list[str | None] | None
    streams: list[list[list[t.Any]]]
    error: str | None


def missing_requirement() -> str | None:
    """Why the replay cannot run here (no Node, or ``npm ci`` not run), if so."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not ESBUILD.exists() or not RENDERED_JS.exists():
        return f"run `npm ci` in {ASSETS} to install esbuild and phoenix_live_view"
    return None


class ReplayClient:
    """One Node process merging diffs with the client's own code."""

    def __init__(self, workdir: Path) -> None:
        bundle = workdir / "rendered.cjs"
        build = subprocess.run(
            [
                ESBUILD,
                RENDERED_JS,
                "--bundle",
                "--format=cjs",
                "--platform=node",
                f"--outfile={bundle}",
            ],
            capture_output=True,
            text=True,
        )
        if build.returncode:
            raise RuntimeError(f"esbuild could not bundle {RENDERED_JS}:\n{build.stderr}")
        # Node's stderr goes to a file: an unread pipe could fill and block it.
        self._log_path = workdir / "node-stderr.log"
        self._log = self._log_path.open("wb")
        self._node = subprocess.Popen(
            ["node", REPLAY_JS, bundle],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
        )

    def replay(self, cases: t.Iterable[Case]) -> list[Result]:
        """Replay each case through the client and return what it rendered.

        Cases go one line at a time, each answered before the next is sent, so
        neither process can block on a full pipe however large the trees are.
        """
        stdin, stdout = self._node.stdin, self._node.stdout
        assert stdin is not None and stdout is not None
        results: list[Result] = []
        for case in cases:
            stdin.write(json.dumps(case).encode() + b"\n")
            stdin.flush()
            line = stdout.readline()
            if not line:
                raise RuntimeError(f"node exited: {self._log_path.read_text(errors='replace')}")
            results.append(json.loads(line))
        return results

    def close(self) -> None:
        """Stop the Node process."""
        assert self._node.stdin is not None
        self._node.stdin.close()
        self._node.wait(timeout=10)
        self._log.close()
