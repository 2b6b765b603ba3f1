"""Baked projects work the way a new user meets them: ``make setup``, ``make run``, ``make test``.

Each bake is set up and tested by its own Makefile, with nothing but the
machine's ``python3``, ``npm`` and caches: the default bake (SQLite, pub/sub in
memory), and the bake with both servers (PostgreSQL and Redis pub/sub) against
the real ones, where ``make setup`` must create the database its
``DATABASE_URL`` names and ``make test`` must drop every database it made.
The other two pairs run ``make test`` too, as a user of that bake would; and
the default bake's suite runs once more on a busy machine (``make test-busy``:
twice as many CPU-bound processes as cores), where it must pass all the same.
``make gen-live`` is met as a user meets it: the default bake and the
PostgreSQL and Redis bake each generate two resources (one referring to the
other) and migrate before their checks, so the default bake's whole suite,
lint and types include them; the pristine default bake is the busy run's.
The PostgreSQL server is ``TEST_POSTGRES_URL``; ``TEST_TIMEOUT_SCALE``
multiplies every bound here and in the baked suites, which it reaches.
"""

import asyncio
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
from conftest import Bake, scaled

# Where the PostgreSQL bakes make their databases: a server's maintenance database.
POSTGRES_SERVER = (
    os.environ.get("TEST_POSTGRES_URL") or "postgresql://postgres@127.0.0.1:5432/postgres"
)
# Subprocesses must not inherit this run's pytest or database settings.
LEAKY_VARIABLES = (
    "PYTEST_ADDOPTS",
    "PYTEST_CURRENT_TEST",
    "DATABASE_URL",
    "TEST_DATABASE_URL",
    "PUBSUB_URL",
    "PUBSUB_PREFIX",
)
STARTUP_TIMEOUT = scaled(30.0)  # seconds `make run` may take to answer
# Seconds each make target may take.
SETUP_TIMEOUT, TEST_TIMEOUT, CHECK_TIMEOUT = scaled(900), scaled(1200), scaled(600)


def clean_env(**overrides: str) -> dict[str, str]:
    """This process's environment minus what would leak into a baked project."""
    env = {key: value for key, value in os.environ.items() if key not in LEAKY_VARIABLES}
    return {**env, **overrides}


def run(command: Sequence[str], cwd: Path, env: dict[str, str], timeout: float) -> str:
    """Run a command, failing the test with its full output if it fails or overruns.

    It runs in a process group of its own: on a timeout the whole group is
    killed (``make``, the suite it runs, and their servers and browsers), not
    ``make`` alone, and what it printed so far says where it stopped.
    """
    process = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        try:
            output, _ = process.communicate(timeout=10)
        except subprocess.TimeoutExpired:  # a process outside the group holds the pipe open
            output = "(no output: the pipe stayed open)"
        pytest.fail(f"{' '.join(command)} did not end within {timeout} s in {cwd}:\n{output}")
    assert process.returncode == 0, f"{' '.join(command)} failed in {cwd}:\n{output}"
    return output


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(url: str) -> bool:
    """Whether ``url`` answers 200 now."""
    try:
        with urllib.request.urlopen(url, timeout=scaled(5.0)) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


@contextmanager
def make_run(project: Path, env: dict[str, str], port: int) -> Iterator[None]:
    """``make run`` until it answers on ``port`` (bounded), then Ctrl+C it."""
    server = subprocess.Popen(
        ["make", "run"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so Ctrl+C reaches make and python
    )
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while not answers(f"http://127.0.0.1:{port}/") and server.poll() is None:
            assert time.monotonic() < deadline, f"make run did not answer on port {port}"
            time.sleep(0.1)
        assert server.poll() is None, f"make run exited:\n{server.communicate()[0]}"
        yield
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
        try:
            server.communicate(timeout=scaled(30))
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.communicate()


def set_env_file_port(project: Path, port: int) -> None:
    """Point the project's ``.env`` at ``port``, as a user edits it."""
    env_file = project / ".env"
    lines = env_file.read_text().splitlines()
    lines = [f"PORT={port}" if line.startswith("PORT=") else line for line in lines]
    env_file.write_text("\n".join(lines) + "\n")


RESOURCES = (
    "Category categories name:str notes:text",
    "Product products name:str description:text price:decimal quantity:int in_stock:bool "
    "released:date available_at:datetime status:enum:draft,live,archived "
    "category_id:references:categories",
)
GENERATED_TESTS = [
    "tests/app/test_gen.py",
    "tests/app/test_categories.py",
    "tests/app/test_browser_categories.py",
    "tests/app/test_products.py",
    "tests/app/test_browser_products.py",
]


def generate(project: Path, env: dict[str, str]) -> None:
    """``make gen-live`` both resources, then migrate; the migrations say all the models say."""
    for args in RESOURCES:
        output = run(["make", "gen-live", f"ARGS={args}"], project, env, timeout=CHECK_TIMEOUT)
        assert "Next: make migrate" in output
    again = ["make", "gen-live", f"ARGS={RESOURCES[0]}"]
    refused = subprocess.run(again, cwd=project, env=env, capture_output=True, text=True)
    assert refused.returncode != 0 and "ERROR: Category exists already" in refused.stderr
    run(["make", "migrate"], project, env, timeout=CHECK_TIMEOUT)
    checked = run([".venv/bin/alembic", "check"], project, env, timeout=CHECK_TIMEOUT)
    assert "No new upgrade operations detected." in checked
    layout = (project / "src" / "my_live_app" / "templates" / "layout.html").read_text()
    assert layout.index(">Categories</a>") < layout.index(">Products</a>")


def test_default_bake_sets_up_serves_and_passes_make_test(bake: Bake, tmp_path: Path) -> None:
    project = bake(tmp_path)
    env = clean_env(PROPERTY_SCALE="7")  # the property tests, seven times as thorough

    setup = run(["make", "setup"], project, env, timeout=SETUP_TIMEOUT)
    assert "install-scripts" not in setup  # npm's note on esbuild's skipped postinstall

    from_file, from_environment = free_port(), free_port()
    set_env_file_port(project, from_file)
    with make_run(project, env, from_file):
        pass  # it answered on the port .env names
    with make_run(project, {**env, "PORT": str(from_environment)}, from_environment):
        assert not answers(f"http://127.0.0.1:{from_file}/")  # the environment won

    generate(project, env)
    quick = run(["make", "test-app"], project, env, timeout=TEST_TIMEOUT)
    assert " deselected" in quick and "skipped" not in quick  # no browsers, no processes
    output = run(["make", "test"], project, env, timeout=TEST_TIMEOUT)
    assert " passed" in output and "skipped" not in output
    run(["make", "lint"], project, env, timeout=CHECK_TIMEOUT)
    run(["make", "typecheck"], project, env, timeout=CHECK_TIMEOUT)  # mypy --strict passes


def test_default_bake_passes_make_test_on_a_busy_machine(bake: Bake, tmp_path: Path) -> None:
    # Twice as many busy processes as cores: every wait of the suite is on a condition,
    # with bounds that hold when the machine is slow (a first `make test` must pass).
    project = bake(tmp_path)
    env = clean_env()

    run(["make", "setup"], project, env, timeout=SETUP_TIMEOUT)
    output = run(["make", "test-busy"], project, env, timeout=2 * TEST_TIMEOUT)
    assert f"{2 * (os.cpu_count() or 1)} busy processes compete" in output


async def server_execute(statement: str) -> list[str]:
    """Run one statement on the server's maintenance database; return the first column."""
    connection = await asyncpg.connect(POSTGRES_SERVER)
    try:
        return [row[0] for row in await connection.fetch(statement)]
    finally:
        await connection.close()


def databases_named(prefix: str) -> list[str]:
    """The server's databases whose names start with ``prefix``."""
    names = asyncio.run(server_execute("SELECT datname FROM pg_database"))
    return sorted(name for name in names if name.startswith(prefix))


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """The URL of a database that does not exist yet; it and its test databases go at the end."""
    name = f"template_{uuid.uuid4().hex[:16]}"
    server = urlsplit(POSTGRES_SERVER)
    try:
        yield server._replace(scheme="postgresql+asyncpg", path=f"/{name}").geturl()
    finally:
        for leftover in databases_named(name):
            asyncio.run(server_execute(f'DROP DATABASE IF EXISTS "{leftover}" WITH (FORCE)'))


def test_postgres_and_redis_bake_creates_its_database_and_passes_make_test(
    bake: Bake, tmp_path: Path, postgres_url: str
) -> None:
    project = bake(tmp_path, database="postgresql", pubsub="redis")
    name = postgres_url.rsplit("/", 1)[1]
    env = clean_env(DATABASE_URL=postgres_url)

    run(["make", "setup"], project, env, timeout=SETUP_TIMEOUT)
    assert databases_named(name) == [name]
    assert "exists" in run(["make", "createdb"], project, env, timeout=CHECK_TIMEOUT)
    port = free_port()
    with make_run(project, {**env, "PORT": str(port)}, port):
        assert answers(f"http://127.0.0.1:{port}/dashboard")  # its lifespan reached Redis

    run(["make", "test"], project, env, timeout=TEST_TIMEOUT)
    assert databases_named(name) == [name], "make test left databases behind"

    generate(project, env)
    run(["make", "lint"], project, env, timeout=CHECK_TIMEOUT)
    run(["make", "typecheck"], project, env, timeout=CHECK_TIMEOUT)
    run([".venv/bin/pytest", "-q", *GENERATED_TESTS], project, env, timeout=TEST_TIMEOUT)


@pytest.mark.parametrize(
    ("database", "pubsub"), [("sqlite", "redis"), ("postgresql", "memory")]
)
def test_the_other_pairs_pass_make_test(
    bake: Bake, tmp_path: Path, postgres_url: str, database: str, pubsub: str
) -> None:
    # Every database x pubsub pair runs its own suite, as a user of that bake would.
    project = bake(tmp_path, database=database, pubsub=pubsub)
    env = clean_env(DATABASE_URL=postgres_url) if database == "postgresql" else clean_env()

    run(["make", "setup"], project, env, timeout=SETUP_TIMEOUT)
    run(["make", "test"], project, env, timeout=TEST_TIMEOUT)
