"""What the test client raises: the test's mistake, the server's error, or a broken protocol."""

from __future__ import annotations

import typing as t
from collections.abc import Mapping

SNIPPET = 1200  # characters of HTML shown in a failure message


def snippet(html: str | None) -> str:
    """``html`` cut to ``SNIPPET`` characters, so a failure stays readable."""
    html = html or ""
    return html if len(html) <= SNIPPET else html[:SNIPPET] + " …"


class LiveTestError(AssertionError):
    """The test asked for something a browser could not do, or an expectation failed."""


class ServerError(Exception):
    """The server answered with an error; ``reason`` is what it said."""

    def __init__(self, what: str, response: Mapping[str, t.Any]) -> None:
        self.response = dict(response)
        self.reason: t.Any = response.get("reason", response)
        super().__init__(f"{what}: the server replied with an error: {self.reason}")


class HTTPError(ServerError):
    """The HTTP render answered with a status other than 200 or a redirect."""

    def __init__(self, url: str, status_code: int, text: str) -> None:
        self.status_code = status_code
        self.text = text
        super().__init__(f"GET {url}", {"reason": f"HTTP {status_code}: {text[:SNIPPET]}"})


class DiffError(ValueError):
    """A diff the official client could not merge or render: the server broke the protocol."""
