"""Settings come from .env, the environment wins, and mistakes are reported clearly."""

from dataclasses import fields
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.db import create_engine_from_settings
from {{ cookiecutter.package_name }}.settings import (
    DEFAULT_DATABASE_URL,
    DEFAULT_PUBSUB_URL,
    PROJECT_ROOT,
    Settings,
    SettingsError,
)


def write_env(tmp_path: Path, text: str) -> Path:
    """Write a .env file and return its path."""
    path = tmp_path / ".env"
    path.write_text(text)
    return path


def test_env_file_is_read(tmp_path: Path) -> None:
    env_file = write_env(tmp_path, "SECRET_KEY=from-file\nDEBUG=true\nPORT=9000\n")

    settings = Settings.from_env({}, env_file)

    assert settings == Settings(
        secret_key="from-file",
        database_url=DEFAULT_DATABASE_URL,
        debug=True,
        port=9000,
    )


def test_environment_wins_over_env_file(tmp_path: Path) -> None:
    env_file = write_env(tmp_path, "SECRET_KEY=from-file\nHOST=0.0.0.0\nPORT=9000\n")

    settings = Settings.from_env({"SECRET_KEY": "from-env", "PORT": "9100"}, env_file)

    assert (settings.secret_key, settings.host, settings.port) == ("from-env", "0.0.0.0", 9100)


def test_missing_secret_key_is_a_clear_error() -> None:
    with pytest.raises(SettingsError, match="SECRET_KEY is not set"):
        Settings.from_env({}, None)


@pytest.mark.parametrize(
    ("name", "value"),
    [("DEBUG", "maybe"), ("SQL_ECHO", "loud"), ("PORT", "http"), ("PORT", "70000")],
)
def test_malformed_values_are_rejected(name: str, value: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({"SECRET_KEY": "x", name: value}, None)


def test_settings_are_immutable() -> None:
    settings = Settings(secret_key="x")

    with pytest.raises(AttributeError):
        settings.debug = True  # type: ignore[misc]


# -- HTTPS and ALLOWED_ORIGINS -----------------------------------------------------


@pytest.mark.parametrize(("raw", "https"), [("true", True), ("false", False), ("", False)])
def test_https_is_a_boolean(raw: str, https: bool) -> None:
    assert Settings.from_env({"SECRET_KEY": "x", "HTTPS": raw}, None).https is https


def test_allowed_origins_are_spelled_as_browsers_send_them() -> None:
    raw = " HTTPS://App.Example:443 ,http://localhost:5173,, http://[::1]:80,capacitor://localhost "
    settings = Settings.from_env({"SECRET_KEY": "x", "ALLOWED_ORIGINS": raw}, None)
    assert settings.allowed_origins == (
        "https://app.example",
        "http://localhost:5173",
        "http://[::1]",
        "capacitor://localhost",
    )


def test_no_allowed_origins_by_default() -> None:
    settings = Settings.from_env({"SECRET_KEY": "x", "ALLOWED_ORIGINS": " "}, None)
    assert settings.allowed_origins == ()
    assert Settings(secret_key="x").allowed_origins == ()


@pytest.mark.parametrize(
    "origin",
    [
        "https://example.com/",
        "https://example.com/app",
        "https://example.com?x=1",
        "https://user@example.com",
        "example.com",
        "//example.com",
        "https://",
        "https://example.com:0",
        "https://example.com:70000",
        "https://exa mple.com",
        "*",
        "null",
    ],
)
def test_a_malformed_origin_is_a_clear_error(origin: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env(
            {"SECRET_KEY": "x", "ALLOWED_ORIGINS": f"https://ok.example,{origin}"}, None
        )
    assert str(error.value) == (
        f"ALLOWED_ORIGINS: {origin!r} is not an origin. Write scheme://host[:port], without a "
        "path or a trailing slash, e.g. https://example.com,http://localhost:5173"
    )


# -- ALLOWED_HOSTS ---------------------------------------------------------------


def test_allowed_hosts_are_this_machines_names_by_default() -> None:
    local = ("localhost", "127.0.0.1", "[::1]")
    assert Settings(secret_key="x").allowed_hosts == local
    unset = Settings.from_env({"SECRET_KEY": "x", "ALLOWED_HOSTS": " , "}, None)
    assert unset.allowed_hosts == local


def test_allowed_hosts_are_names_in_lower_case() -> None:
    raw = " Example.COM ,*.example.org,10.0.0.5, [2001:DB8::1],localhost,*"
    settings = Settings.from_env({"SECRET_KEY": "x", "ALLOWED_HOSTS": raw}, None)
    assert settings.allowed_hosts == (
        "example.com",
        "*.example.org",
        "10.0.0.5",
        "[2001:db8::1]",
        "localhost",
        "*",
    )


@pytest.mark.parametrize(
    "host",
    [
        "example.com:8000",
        "https://example.com",
        "example.com/",
        "*example.com",
        "www.*.example.com",
        "-example.com",
        "exa mple.com",
        "::1",
        "user@example.com",
    ],
)
def test_a_malformed_allowed_host_is_a_clear_error(host: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"SECRET_KEY": "x", "ALLOWED_HOSTS": f"ok.example,{host}"}, None)
    assert str(error.value) == (
        f"ALLOWED_HOSTS: {host!r} is not a host name. Write names without a scheme or a "
        "port, comma-separated, e.g. example.com,www.example.com (*.example.com for every "
        "subdomain, [::1] for an IPv6 address)"
    )


# -- SQL_ECHO ----------------------------------------------------------------------


def test_sql_is_echoed_only_when_asked_not_in_debug_mode() -> None:
    debug = Settings.from_env({"SECRET_KEY": "x", "DEBUG": "true"}, None)
    assert (debug.debug, debug.sql_echo) == (True, False)
    assert create_engine_from_settings(debug).echo is False
    echo = Settings.from_env({"SECRET_KEY": "x", "SQL_ECHO": "yes"}, None)
    assert create_engine_from_settings(echo).echo is True


# -- PUBSUB_URL ------------------------------------------------------------------


def test_the_pubsub_url_defaults_to_the_baked_choice() -> None:
    assert DEFAULT_PUBSUB_URL in ("memory://", "redis://127.0.0.1:6379/0")
    assert Settings.from_env({"SECRET_KEY": "x", "PUBSUB_URL": ""}, None) == Settings("x")
    assert Settings(secret_key="x").pubsub_url == DEFAULT_PUBSUB_URL


@pytest.mark.parametrize(
    "url",
    [
        "memory://",
        "redis://127.0.0.1:6379/0",
        "redis://redis",
        "redis://cache.internal:6380/15",
        "rediss://user:secret@cache.example:6380/2",
    ],
)
def test_memory_and_redis_urls_are_accepted(url: str) -> None:
    assert Settings.from_env({"SECRET_KEY": "x", "PUBSUB_URL": url}, None).pubsub_url == url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("memory", "'memory'"),
        ("memory://x", "'memory://x'"),
        ("redis://", "'redis://'"),
        ("redis://:6379/0", "'redis://:6379/0'"),
        ("redis://127.0.0.1:70000/0", "'redis://127.0.0.1:70000/0'"),
        ("redis://127.0.0.1:0/0", "'redis://127.0.0.1:0/0'"),
        ("redis://127.0.0.1:port/0", "'redis://127.0.0.1:port/0'"),
        ("redis://127.0.0.1:6379/zero", "'redis://127.0.0.1:6379/zero'"),
        ("kafka://127.0.0.1:9092", "'kafka://127.0.0.1:9092'"),
        ("redis://user:hunter2@cache/zero", "'redis://***@cache/zero'"),
    ],
)
def test_a_malformed_pubsub_url_is_a_clear_error(url: str, shown: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"SECRET_KEY": "x", "PUBSUB_URL": url}, None)
    assert str(error.value) == (
        f"PUBSUB_URL={shown} is not a pub/sub URL. Use memory:// (one process) or "
        "redis://host:port/db (every process on the same Redis, e.g. redis://127.0.0.1:6379/0; "
        "rediss:// over TLS)."
    )


def test_the_pubsub_prefix_names_the_app_s_channels_and_keys() -> None:
    assert Settings(secret_key="x").pubsub_prefix == "live:"
    assert Settings.from_env({"SECRET_KEY": "x", "PUBSUB_PREFIX": ""}, None) == Settings("x")
    environ = {"SECRET_KEY": "x", "PUBSUB_PREFIX": "shop-2.eu:"}
    assert Settings.from_env(environ, None).pubsub_prefix == "shop-2.eu:"


@pytest.mark.parametrize("prefix", ["has space:", "star*:", "a" * 65, "é:", "new\nline"])
def test_a_malformed_pubsub_prefix_is_a_clear_error(prefix: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"SECRET_KEY": "x", "PUBSUB_PREFIX": prefix}, None)
    assert str(error.value) == (
        f"PUBSUB_PREFIX={prefix!r} is not a prefix: use 1 to 64 letters, digits, "
        "'_', '.', ':' or '-', e.g. 'live:' or 'shop:'."
    )


# -- PRESENCE_HEARTBEAT and PRESENCE_TTL -------------------------------------------


def test_the_presence_bound_is_read_in_seconds() -> None:
    settings = Settings.from_env(
        {"SECRET_KEY": "x", "PRESENCE_HEARTBEAT": "0.2", "PRESENCE_TTL": "1"}, None
    )
    assert (settings.presence_heartbeat, settings.presence_ttl) == (0.2, 1.0)
    assert Settings.from_env({"SECRET_KEY": "x", "PRESENCE_TTL": ""}, None) == Settings("x")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon", "1e400"])
@pytest.mark.parametrize("name", ["PRESENCE_HEARTBEAT", "PRESENCE_TTL"])
def test_a_presence_time_must_be_seconds_above_zero(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"SECRET_KEY": "x", name: value}, None)
    assert str(error.value) == f"{name}={value!r} is not a number of seconds above 0."


def test_the_heartbeat_must_be_shorter_than_the_ttl() -> None:
    environ = {"SECRET_KEY": "x", "PRESENCE_HEARTBEAT": "5", "PRESENCE_TTL": "5"}
    with pytest.raises(SettingsError) as error:
        Settings.from_env(environ, None)
    assert str(error.value).startswith("PRESENCE_HEARTBEAT=5 must be shorter than PRESENCE_TTL=5:")


# -- MEDIA_MAX_BYTES and UPLOAD_MAX_BYTES ------------------------------------------


def test_the_disk_bounds_are_read_in_bytes() -> None:
    environ = {"SECRET_KEY": "x", "MEDIA_MAX_BYTES": "5_000_000", "UPLOAD_MAX_BYTES": "1024"}
    settings = Settings.from_env(environ, None)
    assert (settings.media_max_bytes, settings.upload_max_bytes) == (5_000_000, 1024)
    assert Settings.from_env({"SECRET_KEY": "x", "MEDIA_MAX_BYTES": ""}, None) == Settings("x")


@pytest.mark.parametrize("value", ["0", "-1", "1.5", "1e9", "lots"])
@pytest.mark.parametrize("name", ["MEDIA_MAX_BYTES", "UPLOAD_MAX_BYTES"])
def test_a_disk_bound_must_be_bytes_above_zero(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"SECRET_KEY": "x", name: value}, None)
    assert str(error.value) == f"{name}={value!r} is not a number of bytes above 0."


def test_the_example_env_file_holds_every_setting_at_its_default() -> None:
    example = PROJECT_ROOT / ".env.example"
    assert Settings.from_env({"SECRET_KEY": "x"}, example) == Settings(secret_key="x", debug=True)
    names = {line.split("=")[0] for line in example.read_text().splitlines() if "=" in line}
    assert names == {field.name.upper() for field in fields(Settings)}


def test_the_write_budget_is_read_from_the_environment() -> None:
    settings = Settings.from_env({"SECRET_KEY": "x", "WRITE_RATE": "0.5", "WRITE_BURST": "3"}, None)
    assert (settings.write_rate, settings.write_burst) == (0.5, 3)
    assert Settings.from_env({"SECRET_KEY": "x", "WRITE_BURST": ""}, None) == Settings("x")


@pytest.mark.parametrize(
    ("name", "value", "kind"),
    [
        ("WRITE_RATE", "0", "number"),
        ("WRITE_RATE", "fast", "number"),
        ("WRITE_RATE", "inf", "number"),
        ("WRITE_BURST", "2.5", "whole number"),
        ("WRITE_BURST", "-3", "whole number"),
    ],
)
def test_a_write_budget_must_be_above_zero(name: str, value: str, kind: str) -> None:
    with pytest.raises(SettingsError) as error:
        Settings.from_env({"SECRET_KEY": "x", name: value}, None)
    assert str(error.value) == f"{name}={value!r} is not a {kind} above 0."
