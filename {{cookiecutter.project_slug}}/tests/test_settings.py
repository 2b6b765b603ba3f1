"""Settings come from .env, the environment wins, and mistakes are reported clearly."""

from pathlib import Path

import pytest

from {{ cookiecutter.package_name }}.settings import (
    DEFAULT_DATABASE_URL,
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
    env_file = write_env(tmp_path, "SECRET_KEY=from-file\nHOST=0.0.0.0\n")

    settings = Settings.from_env({"SECRET_KEY": "from-env"}, env_file)

    assert (settings.secret_key, settings.host) == ("from-env", "0.0.0.0")


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
