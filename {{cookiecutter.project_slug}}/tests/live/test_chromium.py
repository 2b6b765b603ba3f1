"""The browser tests find a Chromium the way users have one (``chromium.py``)."""

from pathlib import Path

import pytest

from chromium import ChromiumNotFound, find_chromium


@pytest.fixture
def executable(tmp_path: Path) -> Path:
    """A file standing in for a browser binary."""
    path = tmp_path / "chrome"
    path.touch()
    return path


def test_chromium_path_comes_first(executable: Path, tmp_path: Path) -> None:
    system = tmp_path / "system-chromium"
    system.touch()

    assert find_chromium({"CHROMIUM_PATH": str(executable)}, system) == executable


def test_debian_chromium_is_next(executable: Path) -> None:
    assert find_chromium({}, executable) == executable
    assert find_chromium({"CHROMIUM_PATH": ""}, executable) == executable


def test_playwright_own_browser_is_last(tmp_path: Path) -> None:
    assert find_chromium({}, tmp_path / "absent") is None


def test_a_chromium_path_naming_nothing_is_an_error(tmp_path: Path) -> None:
    missing = tmp_path / "absent"

    with pytest.raises(ChromiumNotFound, match="not a file.*playwright install chromium"):
        find_chromium({"CHROMIUM_PATH": str(missing)}, missing)

