"""Uploaded files, kept: a folder of files named by the server, served at ``/media/``.

A file's stored name is random, with an extension from a fixed list chosen
by its declared type: nothing the browser said (its file name) ever becomes
part of a path, and nothing can be stored that the browser would run as a
page (no ``.html``, no ``.svg``). The name it was uploaded with comes back
only as the name a download is saved under (``?name=``), cleaned, and with
the stored extension.

Kept files are mode ``FILE_MODE`` (0640): the app's user writes them, and a
front server in its group (nginx serving ``/media/`` itself) may read them.
"""

from __future__ import annotations

import re
import secrets
import shutil
import unicodedata
from pathlib import Path, PurePath
from urllib.parse import quote

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
FILE_MODE = 0o640  # owner reads and writes, group reads, others nothing
MAX_NAME_BYTES = 150  # of a download's name in UTF-8: file systems take 255 bytes
# Kept as they are in the ASCII ``filename=`` of old clients; anything else becomes "_".
_NOT_PLAIN = re.compile(r"[^A-Za-z0-9 ._()&+,=@!#$~-]")


def store(path: str, entry: UploadEntry, media_dir: Path) -> str:
    """Move an upload's complete file into ``media_dir``; its stored name."""
    extension = EXTENSIONS.get(entry.client_type, ".bin")
    name = f"{secrets.token_hex(16)}{extension}"
    media_dir.mkdir(parents=True, exist_ok=True)
    shutil.move(path, media_dir / name)
    (media_dir / name).chmod(FILE_MODE)  # an upload in progress is the owner's alone
    return name


def download_name(name: str, suffix: str) -> str:
    """``name`` as a download may be saved under: its last path part, without control
    characters or quotes, cut to ``MAX_NAME_BYTES`` of UTF-8 (between two characters),
    ending in the stored ``suffix``; "" when nothing is left."""
    name = unicodedata.normalize("NFC", PurePath(name.replace("\\", "/")).name)
    kept = "".join(c for c in name if unicodedata.category(c)[0] != "C" and c not in "\"'")
    stem = PurePath(kept.strip(" .")).stem.strip(" .")
    room = MAX_NAME_BYTES - len(suffix.encode())
    stem = stem.encode()[:room].decode(errors="ignore").rstrip(" .")  # drops a cut character
    return f"{stem}{suffix}" if stem else ""


def ascii_name(name: str) -> str:
    """A download name for clients that do not read ``filename*``: accents dropped
    (``résumé`` → ``resume``), any other character not plain ASCII made ``_``."""
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _NOT_PLAIN.sub("_", plain)


def content_disposition(kind: str, name: str) -> str:
    """``attachment`` or ``inline``, with the name to save as (RFC 6266): a plain ASCII
    ``filename``, and the UTF-8 ``filename*`` (which clients prefer) when it differs."""
    if not name:
        return kind
    fallback = ascii_name(name)
    if fallback == name:
        return f'{kind}; filename="{name}"'
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def remove(names: list[str], media_dir: Path) -> None:
    """Delete stored files (a deleted attachment's, or a contact's); a missing one is fine."""
    for name in names:
        (media_dir / Path(name).name).unlink(missing_ok=True)


def is_image(content_type: str) -> bool:
    return content_type.startswith("image/")
