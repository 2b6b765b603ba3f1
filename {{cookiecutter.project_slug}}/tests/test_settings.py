"""Settings come from .env, the environment wins, and mistakes are reported clearly."""

from dataclasses import fields
from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.settings import (
    DEFAULT_DATABASE_URL,
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
    ("name", "value"), [("DEBUG", "maybe"), ("PORT", "http"), ("PORT", "70000")]
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


def test_the_example_env_file_holds_every_setting_at_its_default() -> None:
    example = PROJECT_ROOT / ".env.example"
    assert Settings.from_env({"SECRET_KEY": "x"}, example) == Settings(secret_key="x", debug=True)
    names = {line.split("=")[0] for line in example.read_text().splitlines() if "=" in line}
    assert names == {field.name.upper() for field in fields(Settings)}
