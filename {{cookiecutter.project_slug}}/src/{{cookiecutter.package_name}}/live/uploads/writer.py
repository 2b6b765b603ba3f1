"""Where an upload's bytes go while it arrives: a temporary file of the server's naming.

A client's file name never becomes part of a path: each file is a random
name in the upload folder, created exclusively and readable by this user
only. Chunks are written as they come, so memory holds one chunk at a time.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

SUFFIX = ".upload"


def upload_dir(configured: str | None) -> Path:
    """The folder for uploads in progress: the configured one, or one in the system's temp."""
    path = Path(configured) if configured else Path(tempfile.gettempdir()) / "live-uploads"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


class TempFile:
    """One upload's bytes on disk; ``discard`` removes them, whatever state they are in."""

    def __init__(self, directory: Path) -> None:
        self.path = str(directory / f"{secrets.token_hex(16)}{SUFFIX}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        self._fd: int | None = os.open(self.path, flags, 0o600)

    def write(self, data: bytes) -> None:
        if self._fd is None:
            raise OSError("the upload's file is closed")
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    def discard(self) -> None:
        self.close()
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
