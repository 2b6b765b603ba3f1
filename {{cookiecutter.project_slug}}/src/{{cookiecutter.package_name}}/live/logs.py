"""Log lines about what clients send: short, and few per socket.

A client controls topics, event names and values. Logged verbatim, one 16 MB
frame becomes a 16 MB log line, and a loop of bad frames floods the disk.
Client values are cut to a few hundred characters, and each socket may log
only so many warnings a minute; the rest are counted and summarised.
"""

from __future__ import annotations

import logging
import re
import time
import typing as t


def clip(value: t.Any, limit: int = 200) -> str:
    """``repr`` of ``value`` (so a newline cannot fake a log line), cut to ``limit`` characters."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…(+{len(text) - limit} chars)"


class ClientLog:
    """Warnings about one socket's client, at most ``per_minute`` a minute."""

    def __init__(self, logger: logging.Logger, per_minute: int, limit: int) -> None:
        self._logger = logger
        self._per_minute = per_minute
        self._limit = limit
        self._window = time.monotonic()
        self._count = 0
        self._dropped = 0

    def warning(self, message: str, *values: t.Any) -> None:
        """Log ``message % values`` with each value clipped, unless over the rate."""
        now = time.monotonic()
        if now - self._window >= 60:
            self.flush()
            self._window, self._count = now, 0
        if self._count >= self._per_minute:
            self._dropped += 1
            return
        self._count += 1
        self._logger.warning(message, *(clip(value, self._limit) for value in values))

    def flush(self) -> None:
        """Log how many warnings were left out: at the end of each minute, and at close."""
        if self._dropped:
            self._logger.warning("%d more warnings from this client not logged", self._dropped)
            self._dropped = 0


_QUERY_TOKEN = re.compile(r"(_csrf_token=)[^&\s\"']*")


def redact_query_tokens(record: logging.LogRecord) -> bool:
    """A logging filter: ``_csrf_token=…`` in a logged URL becomes ``_csrf_token=[redacted]``."""
    if isinstance(record.args, tuple):
        record.args = tuple(
            _QUERY_TOKEN.sub(r"\1[redacted]", arg) if isinstance(arg, str) else arg
            for arg in record.args
        )
    if isinstance(record.msg, str):
        record.msg = _QUERY_TOKEN.sub(r"\1[redacted]", record.msg)
    return True
