"""Write the baked project's settings files.

``.env`` holds a secret key generated now, so no two projects share one and no
secret ever lives in the template. ``.env.example`` lists the same keys without
secrets, for version control and for whoever sets up the next machine.
Cookiecutter runs this file from inside the new project directory.
"""

import os
import secrets
from pathlib import Path

DATABASE = {{ cookiecutter.database | tojson }}
PUBSUB = {{ cookiecutter.pubsub | tojson }}
PACKAGE_NAME = {{ cookiecutter.package_name | tojson }}

DATABASE_URLS = {
    "sqlite": "sqlite+aiosqlite:///./app.db",
    "postgresql": f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PACKAGE_NAME}",
}
PUBSUB_URLS = {
    "memory": "memory://",
    "redis": "redis://127.0.0.1:6379/0",
}
SECRET_HINT = (
    "# Generate one with: "
    "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
)


def env_lines(secret_key: str) -> list[str]:
    """Return the settings file's lines; an empty secret makes the example."""
    return [
        *([] if secret_key else [SECRET_HINT]),
        f"SECRET_KEY={secret_key}",
        f"DATABASE_URL={DATABASE_URLS[DATABASE]}",
        "# Database writes one connection may make per second, after a burst of WRITE_BURST.",
        "WRITE_RATE=5",
        "WRITE_BURST=20",
        "DEBUG=true",
        "# Log every SQL statement (about 1 KB a page): for a debugging session.",
        "SQL_ECHO=false",
        "HOST=127.0.0.1",
        "PORT=8000",
        "HTTPS=false",
        "ALLOWED_ORIGINS=",
        "# The names browsers reach this app by; in production, its domain (example.com).",
        "ALLOWED_HOSTS=localhost,127.0.0.1,[::1]",
        f"PUBSUB_URL={PUBSUB_URLS[PUBSUB]}",
        "# Starts the app's Redis channels and keys: apps sharing one Redis need their own.",
        "PUBSUB_PREFIX=live:",
        "# A process that dies without a word: its presences leave within TTL + HEARTBEAT s.",
        "PRESENCE_HEARTBEAT=3",
        "PRESENCE_TTL=10",
        "# Where uploaded files are kept (relative to the project).",
        "MEDIA_DIR=media",
        "# Bytes the kept files may take; bytes uploads may hold at once (arriving, or unsaved).",
        "MEDIA_MAX_BYTES=1073741824",
        "UPLOAD_MAX_BYTES=268435456",
    ]


def write(path: Path, lines: list[str], mode: int) -> None:
    """Write lines to path with the given permissions."""
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, mode)


def main() -> None:
    """Write .env (private to the owner) and .env.example."""
    write(Path(".env"), env_lines(secrets.token_urlsafe(48)), 0o600)
    write(Path(".env.example"), env_lines(""), 0o644)


if __name__ == "__main__":
    main()
