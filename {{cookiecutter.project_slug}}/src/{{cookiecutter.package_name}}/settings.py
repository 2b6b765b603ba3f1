"""Settings read once from the environment, with a ``.env`` file for development.

Real environment variables win over ``.env`` so a deployment can override any
value without editing files. Settings are a frozen dataclass so nothing can
change them behind the app's back after start-up.
"""

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Self
from urllib.parse import urlsplit

from dotenv import dotenv_values

from .live.presence import HEARTBEAT, TTL
from .live.pubsub import DEFAULT_PREFIX

PROJECT_ROOT = Path(__file__).resolve().parents[2]
{%- if cookiecutter.database == "postgresql" %}
DEFAULT_DATABASE_URL = (
    "postgresql+asyncpg://postgres@127.0.0.1:5432/{{ cookiecutter.package_name }}"
)
{%- else %}
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./app.db"
{%- endif %}
{%- if cookiecutter.pubsub == "redis" %}
DEFAULT_PUBSUB_URL = "redis://127.0.0.1:6379/0"
{%- else %}
DEFAULT_PUBSUB_URL = "memory://"
{%- endif %}
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
DEFAULT_MEDIA_MAX_BYTES = 1024**3
DEFAULT_UPLOAD_MAX_BYTES = 256 * 1024**2
DEFAULT_WRITE_RATE = 5.0  # database writes per second, per WebSocket connection...
DEFAULT_WRITE_BURST = 20  # ...after this many at once
BYTES = "number of bytes"  # what a disk bound is, in its error message
TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})
ORIGIN = re.compile(
    r"(?P<scheme>[a-z][a-z0-9+.-]*)://(?P<host>[a-z0-9.-]+|\[[0-9a-f:.]+\])(?::(?P<port>\d{1,5}))?"
)
DEFAULT_PORTS = {"http": 80, "https": 443}
# This machine's names only: a page served under another name (DNS rebinding) gets a 400.
DEFAULT_ALLOWED_HOSTS = ("localhost", "127.0.0.1", "[::1]")
# A name, an IPv4 address, "*.name" (its subdomains), "[IPv6]", or "*" (any: no check).
HOST_PATTERN = re.compile(
    r"\*|(?:\*\.)?[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*"
    r"|\[[0-9a-f:.]+\]"
)
REDIS_SCHEMES = ("redis", "rediss")  # rediss: over TLS
REDIS_DATABASE = re.compile(r"/?\d*")
URL_CREDENTIALS = re.compile(r"//[^/@]*@")
PUBSUB_PREFIX = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    """Everything the app reads from its environment."""

    secret_key: str
    database_url: str = DEFAULT_DATABASE_URL
    # How often one connection's views may write: a token bucket (ratelimit.py).
    write_rate: float = DEFAULT_WRITE_RATE
    write_burst: int = DEFAULT_WRITE_BURST
    debug: bool = False
    sql_echo: bool = False  # every SQL statement logged: for a debugging session, not by default
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    https: bool = False
    allowed_origins: tuple[str, ...] = ()
    # The names this app answers to (the request's Host), on HTTP and on the WebSocket.
    allowed_hosts: tuple[str, ...] = DEFAULT_ALLOWED_HOSTS
    pubsub_url: str = DEFAULT_PUBSUB_URL
    # Starts every Redis channel and key of the app: apps sharing one Redis need their own.
    pubsub_prefix: str = DEFAULT_PREFIX
    # A process that dies without a word has its presences removed within ttl + heartbeat.
    presence_heartbeat: float = HEARTBEAT
    presence_ttl: float = TTL
    # Uploaded files, kept; uploads in progress are written beside them, in .uploads/.
    media_dir: Path = PROJECT_ROOT / "media"
    # Bytes the kept files may take (a save past it is refused, and says so).
    media_max_bytes: int = DEFAULT_MEDIA_MAX_BYTES
    # Bytes uploads may hold on disk at once, arriving or waiting to be saved (every socket).
    upload_max_bytes: int = DEFAULT_UPLOAD_MAX_BYTES

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        env_file: Path | None = PROJECT_ROOT / ".env",
    ) -> Self:
        """Build settings from ``env_file`` overlaid with ``environ``."""
        values: dict[str, str] = {}
        if env_file is not None and env_file.is_file():
            values.update(
                {k: v for k, v in dotenv_values(env_file).items() if v is not None}
            )
        values.update(os.environ if environ is None else environ)

        secret_key = values.get("SECRET_KEY", "")
        if not secret_key:
            raise SettingsError(
                "SECRET_KEY is not set. Put it in the environment or in "
                f"{PROJECT_ROOT / '.env'}; generate one with: "
                "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        heartbeat = _parse_seconds("PRESENCE_HEARTBEAT", values, HEARTBEAT)
        ttl = _parse_seconds("PRESENCE_TTL", values, TTL)
        if heartbeat >= ttl:
            raise SettingsError(
                f"PRESENCE_HEARTBEAT={heartbeat:g} must be shorter than PRESENCE_TTL={ttl:g}: "
                "a process is taken for dead after PRESENCE_TTL seconds without a heartbeat."
            )
        return cls(
            secret_key=secret_key,
            database_url=values.get("DATABASE_URL") or DEFAULT_DATABASE_URL,
            write_rate=_parse_positive("WRITE_RATE", values, DEFAULT_WRITE_RATE),
            write_burst=_parse_whole("WRITE_BURST", values, DEFAULT_WRITE_BURST),
            debug=_parse_bool("DEBUG", values.get("DEBUG", "")),
            sql_echo=_parse_bool("SQL_ECHO", values.get("SQL_ECHO", "")),
            host=values.get("HOST") or DEFAULT_HOST,
            port=_parse_port(values.get("PORT") or str(DEFAULT_PORT)),
            https=_parse_bool("HTTPS", values.get("HTTPS", "")),
            allowed_origins=_parse_origins(values.get("ALLOWED_ORIGINS", "")),
            allowed_hosts=_parse_hosts(values.get("ALLOWED_HOSTS", "")),
            pubsub_url=_parse_pubsub_url(values.get("PUBSUB_URL") or DEFAULT_PUBSUB_URL),
            pubsub_prefix=_parse_pubsub_prefix(values.get("PUBSUB_PREFIX") or DEFAULT_PREFIX),
            presence_heartbeat=heartbeat,
            presence_ttl=ttl,
            media_dir=PROJECT_ROOT / (values.get("MEDIA_DIR") or "media"),
            media_max_bytes=_parse_whole(
                "MEDIA_MAX_BYTES", values, DEFAULT_MEDIA_MAX_BYTES, BYTES
            ),
            upload_max_bytes=_parse_whole(
                "UPLOAD_MAX_BYTES", values, DEFAULT_UPLOAD_MAX_BYTES, BYTES
            ),
        )


def _parse_bool(name: str, raw: str) -> bool:
    """Accept the usual spellings of on/off and reject anything else."""
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise SettingsError(f"{name}={raw!r} is not a boolean; use true or false.")


def _parse_port(raw: str) -> int:
    """Return a TCP port number, or say clearly why the value is not one."""
    try:
        port = int(raw)
    except ValueError:
        port = -1
    if not 0 < port < 65536:
        raise SettingsError(f"PORT={raw!r} is not a TCP port number (1-65535).")
    return port


def _parse_seconds(name: str, values: Mapping[str, str], default: float) -> float:
    """A positive, finite number of seconds; unset or empty is ``default``."""
    return _parse_positive(name, values, default, "number of seconds")


def _parse_positive(
    name: str, values: Mapping[str, str], default: float, kind: str = "number"
) -> float:
    """A finite number above 0; unset or empty is ``default``."""
    raw = values.get(name, "")
    if not raw:
        return default
    try:
        number = float(raw)
    except ValueError:
        number = math.nan
    if not (math.isfinite(number) and number > 0):
        raise SettingsError(f"{name}={raw[:200]!r} is not a {kind} above 0.")
    return number


def _parse_whole(
    name: str, values: Mapping[str, str], default: int, kind: str = "whole number"
) -> int:
    """A whole number above 0 (``_`` may group digits); unset or empty is ``default``."""
    raw = values.get(name, "")
    if not raw:
        return default
    try:
        number = int(raw)
    except ValueError:
        number = 0
    if number < 1:
        raise SettingsError(f"{name}={raw[:200]!r} is not a {kind} above 0.")
    return number


def _parse_origins(raw: str) -> tuple[str, ...]:
    """Comma-separated origins; an empty value allows none besides the site's own."""
    return tuple(_parse_origin(item.strip()) for item in raw.split(",") if item.strip())


def _parse_origin(item: str) -> str:
    """``item`` spelled as browsers send it in ``Origin``: lower case, no default port."""
    match = ORIGIN.fullmatch(item.lower())
    port = int(match["port"]) if match and match["port"] else None
    if match is None or (port is not None and not 0 < port < 65536):
        raise SettingsError(
            f"ALLOWED_ORIGINS: {item[:200]!r} is not an origin. Write scheme://host[:port], "
            "without a path or a trailing slash, e.g. https://example.com,http://localhost:5173"
        )
    scheme, host = match["scheme"], match["host"]
    if port is None or port == DEFAULT_PORTS.get(scheme):
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def _parse_hosts(raw: str) -> tuple[str, ...]:
    """Comma-separated host names, in lower case; an empty value is this machine's names."""
    hosts = tuple(item.strip().lower() for item in raw.split(",") if item.strip())
    for host in hosts:
        if HOST_PATTERN.fullmatch(host) is None:
            raise SettingsError(
                f"ALLOWED_HOSTS: {host[:200]!r} is not a host name. Write names without a "
                "scheme or a port, comma-separated, e.g. example.com,www.example.com "
                "(*.example.com for every subdomain, [::1] for an IPv6 address)"
            )
    return hosts or DEFAULT_ALLOWED_HOSTS


def _parse_pubsub_url(raw: str) -> str:
    """``memory://`` (one process) or a Redis URL (every process on that Redis)."""
    if raw != "memory://" and not _is_redis_url(raw):
        shown = URL_CREDENTIALS.sub("//***@", raw[:200])
        raise SettingsError(
            f"PUBSUB_URL={shown!r} is not a pub/sub URL. Use memory:// (one process) or "
            "redis://host:port/db (every process on the same Redis, e.g. "
            "redis://127.0.0.1:6379/0; rediss:// over TLS)."
        )
    return raw


def _parse_pubsub_prefix(raw: str) -> str:
    """Letters, digits and ``_.:-``: a prefix that reads plainly in ``redis-cli``."""
    if PUBSUB_PREFIX.fullmatch(raw) is None:
        raise SettingsError(
            f"PUBSUB_PREFIX={raw[:200]!r} is not a prefix: use 1 to 64 letters, digits, "
            f"'_', '.', ':' or '-', e.g. {DEFAULT_PREFIX!r} or 'shop:'."
        )
    return raw


def _is_redis_url(raw: str) -> bool:
    """``redis://`` or ``rediss://`` with a host, and a valid port and database number if any."""
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError:  # a port that is not a number in 0-65535
        return False
    return (
        parts.scheme in REDIS_SCHEMES
        and bool(parts.hostname)
        and port != 0
        and REDIS_DATABASE.fullmatch(parts.path) is not None
    )


@cache
def get_settings() -> Settings:
    """Return the process-wide settings, read on first use."""
    return Settings.from_env()
