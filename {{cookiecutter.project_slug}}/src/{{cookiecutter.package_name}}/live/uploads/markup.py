"""Template helpers for uploads: the file input, image previews, error messages.

``{{ live_file_input(uploads.photos) }}`` renders the input with every
``data-phx-*`` attribute the official client reads (its ``Phoenix.LiveFileUpload``
hook); each render lists the entries the server knows, has preflighted and
has received whole, which is how the client knows what to send and when a
form may be submitted.
"""

from __future__ import annotations

import typing as t

from markupsafe import Markup

from .config import UploadConfig, UploadEntry


def live_file_input(upload: UploadConfig, **attributes: t.Any) -> Markup:
    """The ``<input type="file">`` of ``upload``, plus ``attributes`` (``class_`` for class)."""
    entries = upload.entries
    attrs: dict[str, t.Any] = {
        "id": upload.ref,
        "type": "file",
        "name": upload.name,
        "accept": ",".join(upload.accept) or None,
        "data-phx-hook": "Phoenix.LiveFileUpload",
        "data-phx-upload-ref": upload.ref,
        "data-phx-active-refs": _refs(entries),
        "data-phx-done-refs": _refs(e for e in entries if e.done),
        "data-phx-preflighted-refs": _refs(e for e in entries if e.preflighted),
        "data-phx-error-refs": _refs(dict.fromkeys(ref for ref, _ in upload.errors)) or None,
        "data-phx-auto-upload": upload.auto_upload or None,
        "multiple": upload.max_entries > 1 or None,
    }
    for name, value in attributes.items():
        attrs[name.rstrip("_").replace("_", "-")] = value
    return Markup("<input{}>").format(_attributes(attrs))


def live_img_preview(entry: UploadEntry, **attributes: t.Any) -> Markup:
    """An ``<img>`` the client fills with the chosen file itself (nothing is sent for it)."""
    attrs: dict[str, t.Any] = {
        "id": f"phx-preview-{entry.ref}",
        "data-phx-upload-ref": entry.upload_ref,
        "data-phx-entry-ref": entry.ref,
        "data-phx-hook": "Phoenix.LiveImgPreview",
        "data-phx-update": "ignore",
    }
    for name, value in attributes.items():
        attrs[name.rstrip("_").replace("_", "-")] = value
    return Markup("<img{}>").format(_attributes(attrs))


def upload_errors(upload: UploadConfig, entry: UploadEntry | None = None) -> list[str]:
    """What is wrong with ``entry`` ("The file is too large."), or with the upload itself."""
    return upload.entry_errors(entry)


def _refs(entries: t.Iterable[UploadEntry | str]) -> str:
    return ",".join(entry if isinstance(entry, str) else entry.ref for entry in entries)


def _attributes(attrs: dict[str, t.Any]) -> Markup:
    """`` name="value"`` for each attribute; True is a bare name, None and False are left out."""
    parts = []
    for name, value in attrs.items():
        if value is None or value is False:
            continue
        if value is True:
            parts.append(Markup(" {}").format(name))
        else:
            parts.append(Markup(' {}="{}"').format(name, value))
    return Markup("").join(parts)


GLOBALS = {
    "live_file_input": live_file_input,
    "live_img_preview": live_img_preview,
    "upload_errors": upload_errors,
}
