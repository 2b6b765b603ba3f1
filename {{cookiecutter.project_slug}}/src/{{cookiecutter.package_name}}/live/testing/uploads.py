"""Uploading files as the official client does: Phoenix.LiveViewTest's ``file_input``.

``view.file_input("#photos", [UploadFile("a.png", data, "image/png")])``
chooses files in a file input; ``await view.upload(files)`` then does what
the browser does with them: the form's change event listing the files, the
preflight (``allow_upload``), each file's ``lvu:`` channel joined with its
token and fed in binary chunks (each waits for its acknowledgement), and a
``progress`` event whenever the percentage grows. ``percent`` stops part
way, to test progress or a cancel.
"""

from __future__ import annotations

import itertools
import math
import typing as t
from dataclasses import dataclass, field

from .channel import Channel

if t.TYPE_CHECKING:
    from .view import LiveViewTest


@dataclass(frozen=True)
class UploadFile:
    """A file to choose: its name, bytes and type, as a browser's ``File`` (never empty:
    the client does not upload empty files)."""

    name: str
    content: bytes
    type: str = "application/octet-stream"
    last_modified: int = 1_700_000_000_000


@dataclass
class Entry:
    """A chosen file and how far it got."""

    file: UploadFile
    ref: str
    sent: int = 0
    token: str | None = None
    channel: Channel | None = None
    reported: int = -1  # the last progress percentage sent
    error: str | None = None  # the upload channel's refusal

    def payload(self) -> dict[str, t.Any]:
        return {
            "ref": self.ref,
            "name": self.file.name,
            "type": self.file.type,
            "size": len(self.file.content),
            "last_modified": self.file.last_modified,
            "relative_path": "",
        }


_file_refs = itertools.count()  # the client's counter is page-wide; unique per test run here


@dataclass
class FileInput:
    """Files chosen in one live file input (see ``LiveViewTest.file_input``)."""

    selector: str
    entries: list[Entry]
    announced: bool = False
    errors: dict[str, str] = field(default_factory=dict)  # entry ref → upload channel's reason

    @classmethod
    def choose(cls, selector: str, files: t.Sequence[UploadFile]) -> FileInput:
        return cls(selector, [Entry(file, str(next(_file_refs))) for file in files])


async def upload(view: LiveViewTest, files: FileInput, percent: int) -> None:
    """The client's upload of ``files``, up to ``percent`` of each."""
    if not files.announced:
        await view._announce_files(files)
        files.announced = True
    input_node = view.element(files.selector)
    upload_ref = input_node.attributes.get("data-phx-upload-ref") or ""
    active = (input_node.attributes.get("data-phx-active-refs") or "").split(",")
    waiting = [e for e in files.entries if e.token is None and e.ref in active and not e.error]
    if waiting:
        response = await view._preflight(upload_ref, [entry.payload() for entry in waiting])
        tokens = response.get("entries") or {}
        for entry in waiting:
            entry.token = tokens.get(entry.ref)
    chunk_size = int(view._upload_configs.get(upload_ref, {}).get("chunk_size", 64_000))
    for entry in files.entries:
        if entry.token is not None and entry.error is None:
            await _send(view, files, entry, upload_ref, chunk_size, percent)


async def _send(
    view: LiveViewTest,
    files: FileInput,
    entry: Entry,
    upload_ref: str,
    chunk_size: int,
    percent: int,
) -> None:
    size = len(entry.file.content)
    if entry.channel is None:
        entry.channel = view._upload_channel(f"lvu:{entry.ref}")
        join = {"token": entry.token}
        status, response = await entry.channel.request("phx_join", join, join=True)
        if status != "ok":
            await _failed(view, files, entry, upload_ref, str(response.get("reason")))
            return
    goal = min(size, math.ceil(size * percent / 100))  # at least ``percent``
    while entry.sent < goal:
        chunk = entry.file.content[entry.sent : min(entry.sent + chunk_size, goal)]
        ref = entry.channel.push_binary("chunk", chunk)
        status, response = await entry.channel.reply_to(ref, "chunk")
        if status != "ok":
            await _failed(view, files, entry, upload_ref, str(response.get("reason")))
            return
        entry.sent += len(chunk)
        done = math.floor(entry.sent * 100 / size)
        if done > entry.reported:
            entry.reported = done
            await view._progress(upload_ref, entry.ref, done)


async def _failed(
    view: LiveViewTest, files: FileInput, entry: Entry, upload_ref: str, reason: str
) -> None:
    """The client's ``EntryUploader.error``: it tells the view, unless the server said
    ``writer_error`` (the server has recorded that failure itself)."""
    entry.error = files.errors[entry.ref] = reason
    if reason != "writer_error":
        await view._progress(upload_ref, entry.ref, {"error": reason})
