"""The template baked with its defaults, migrated, seeded, and served as ``make run`` serves it.

The bake goes into a temporary directory of the bench's, with a fresh SQLite
database there; the settings are given as environment variables, which win
over the bake's ``.env``.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness import TEMPLATE, BenchError, Process
from wire import http_get

PACKAGE = "my_live_app"  # the package of a bake with cookiecutter.json's defaults
SETUP_TIMEOUT = 120.0  # seconds for the bake, the migration and the seed, each


@dataclass(frozen=True)
class App:
    """The baked project, its database, and the environment its commands run with."""

    root: Path
    database: Path  # SQLite
    secret_key: str

    @property
    def database_url(self) -> str:
        return f"sqlite+aiosqlite:///{self.database}"

    def env(self, pubsub_url: str = "memory://", port: int = 0) -> dict[str, str]:
        """The settings as environment variables (they win over the bake's ``.env``)."""
        return {
            **os.environ,
            "PYTHONPATH": str(self.root / "src"),
            "SECRET_KEY": self.secret_key,
            "DATABASE_URL": self.database_url,
            "DEBUG": "false",  # the bake's .env says true: templates re-read when they change
            "HOST": "127.0.0.1",
            "PORT": str(port or 8000),
            "PUBSUB_URL": pubsub_url,
            "ALLOWED_ORIGINS": "",
            # A bench saves faster than a person: the per-connection write rate is not its subject.
            "WRITE_RATE": "1000",
            "WRITE_BURST": "1000",
        }

    def run(self, *arguments: str) -> None:
        """``python arguments…`` in the project, bounded; ``BenchError`` (its output) on failure."""
        try:
            done = subprocess.run(
                [sys.executable, *arguments],
                cwd=self.root,
                env=self.env(),
                capture_output=True,
                text=True,
                timeout=SETUP_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            raise BenchError(f"{' '.join(arguments)} took over {SETUP_TIMEOUT:.0f} s") from None
        if done.returncode != 0:
            raise BenchError(f"{' '.join(arguments)} failed: {(done.stderr or done.stdout)[-800:]}")

    def migrate_and_seed(self, count: int) -> None:
        """``alembic upgrade head`` on the new database, then ``count`` contacts."""
        self.run("-m", "alembic", "upgrade", "head")
        self.run("-m", f"{PACKAGE}.seed", "--count", str(count))


def bake(directory: Path, template: Path = TEMPLATE, importable: bool = True) -> Path:
    """Bake ``template`` with its defaults into ``directory``; the project's root.

    With ``importable``, the project's ``src`` goes on ``sys.path``: its
    client-side merge (``live.testing.rendered``), and its app for a bench that
    imports it.
    """
    from cookiecutter.main import cookiecutter

    # The user's cookiecutter config is ignored, and its replay file goes to the temp dir.
    config = {"replay_dir": str(directory / "replay"), "cookiecutters_dir": str(directory)}
    root = Path(
        cookiecutter(
            str(template), no_input=True, output_dir=str(directory / "bake"), default_config=config
        )
    )
    if not (root / "src" / PACKAGE).is_dir():
        raise BenchError(f"the bake has no src/{PACKAGE}: {root}")
    if importable:
        sys.path.insert(0, str(root / "src"))
    return root


class AppServer(Process):
    """``python -m my_live_app`` with ``pubsub_url``: the app as ``make run`` serves it."""

    def __init__(self, name: str, app: App, pubsub_url: str = "memory://") -> None:
        super().__init__(name)
        self.app = app
        self.pubsub_url = pubsub_url
        self.cwd = app.root

    def command(self) -> list[str]:
        return [sys.executable, "-m", PACKAGE]

    def environment(self) -> dict[str, str]:
        return self.app.env(self.pubsub_url, self.port)

    async def ready(self) -> bool:
        return (await http_get(self.port, "/static/app.css"))[0] == 200

    def warnings(self) -> list[str]:
        """What the server logged above uvicorn's info lines (start-up, access): the first."""
        lines = [line for line in self.log_lines() if not line.startswith("INFO:")]
        return [line[:200] for line in lines[:5]]
