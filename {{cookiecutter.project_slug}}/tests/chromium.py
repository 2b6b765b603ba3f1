"""Which Chromium the browser tests drive, looked for where users have one.

In order: the browser ``CHROMIUM_PATH`` names; Debian's package
(``apt-get install chromium``, ``/usr/bin/chromium``); else Playwright's own
download (``.venv/bin/playwright install chromium``), which Playwright launches
when given no executable.
"""

from collections.abc import Mapping
from pathlib import Path

DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
HOW_TO_GET_ONE = (
    "set CHROMIUM_PATH to a Chromium, install Debian's (apt-get install chromium), "
    "or download Playwright's (.venv/bin/playwright install chromium); "
    "or leave the browser tests out with -m 'not browser'"
)


class ChromiumNotFound(Exception):
    """CHROMIUM_PATH names no file."""


def find_chromium(environ: Mapping[str, str], system: Path = DEBIAN_CHROMIUM) -> Path | None:
    """The Chromium to launch, or None for Playwright's own."""
    configured = environ.get("CHROMIUM_PATH")
    if configured:
        path = Path(configured)
        if not path.is_file():
            raise ChromiumNotFound(f"CHROMIUM_PATH={configured} is not a file: {HOW_TO_GET_ONE}")
        return path
    return system if system.is_file() else None
