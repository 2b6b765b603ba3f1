"""Uploaded files, kept: a folder of files named by the server, served at ``/media/``.

A file's stored name is random, with an extension from a fixed list chosen
by its declared type: nothing the browser said (its file name) ever becomes
part of a path, and nothing can be stored that the browser would run as a
page (no ``.html``, no ``.svg``).
"""

from __future__ import annotations

import secrets
import shutil
from pathlib import Path

from .live import UploadEntry

# Declared type → the extension the file is stored and served with.
EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "application/pdf": ".pdf",
}
ACCEPT = (".png", ".jpg", ".jpeg", ".gif", ".webp", ".pdf", *EXTENSIONS)
URL = "/media"


def store(path: str, entry: UploadEntry, media_dir: Path) -> str:
    """Move an upload's complete file into ``media_dir``; its stored name."""
    extension = EXTENSIONS.get(entry.client_type, ".bin")
    name = f"{secrets.token_hex(16)}{extension}"
    media_dir.mkdir(parents=True, exist_ok=True)
    shutil.move(path, media_dir / name)
    return name


def remove(names: list[str], media_dir: Path) -> None:
    """Delete stored files (a deleted attachment's, or a contact's); a missing one is fine."""
    for name in names:
        (media_dir / Path(name).name).unlink(missing_ok=True)


def is_image(content_type: str) -> bool:
    return content_type.startswith("image/")
