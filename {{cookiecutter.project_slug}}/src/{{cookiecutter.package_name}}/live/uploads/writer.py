"""Where an upload's bytes go while it arrives: a temporary file of the server's naming.

A client's file name never becomes part of a path: each file is a random
name in the upload folder, created exclusively and readable by this user
only. Each chunk is appended as it comes (the file is opened for that chunk
alone, so a slow upload holds no file descriptor), and memory holds one
chunk at a time.
"""

from __future__ import annotations

import os
import secrets
import stat
import tempfile
import time
from pathlib import Path

SUFFIX = ".upload"
_APPEND = os.O_WRONLY | os.O_APPEND | getattr(os, "O_BINARY", 0)


def upload_dir(configured: str | None) -> Path:
    """The folder for uploads in progress: the configured one, or this user's in the temp folder.

    A shared temp folder is checked: a folder of that name made by another
    user (who could read or swap the files in it) is refused.
    """
    if configured:
        path = Path(configured)
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        return path
    path = Path(tempfile.gettempdir()) / f"live-uploads-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    info = path.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise PermissionError(f"{path} is not a private folder of this user: refusing to use it")
    return path


def remove_stale(directory: Path, max_age: float) -> int:
    """Remove uploads in progress untouched for ``max_age`` seconds (a process that was killed
    leaves its files behind); how many. Meant for the app's start."""
    removed, cutoff = 0, time.time() - max_age
    if not directory.is_dir():
        return 0
    for path in directory.glob(f"*{SUFFIX}"):
        try:
            if path.stat().st_mtime < cutoff:
                path.unlink()
                removed += 1
        except FileNotFoundError:
            pass
    return removed


class TempFile:
    """One upload's bytes on disk; ``discard`` removes them, whatever state they are in."""

    def __init__(self, directory: Path) -> None:
        self.path = str(directory / f"{secrets.token_hex(16)}{SUFFIX}")
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
        os.close(os.open(self.path, flags, 0o600))
        self.closed = False

    def append(self, data: bytes) -> None:
        """Write ``data`` at the end (blocking: run it in a thread)."""
        if self.closed:
            raise OSError("the upload's file is complete")
        fd = os.open(self.path, _APPEND)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)

    def close(self) -> None:
        """No more bytes will come."""
        self.closed = True

    def discard(self) -> None:
        self.closed = True
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass
