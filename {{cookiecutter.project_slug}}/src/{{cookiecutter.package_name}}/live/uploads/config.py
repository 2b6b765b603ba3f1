"""An upload a view allows (``socket.allow_upload``) and the files chosen for it.

The client says what it is about to send (name, type, size); everything it
says is checked here before a byte arrives (size, type, how many), and
again by the upload channel as the bytes come (``channel.py``): the declared
size is only a first filter, never trusted.
"""

from __future__ import annotations

import asyncio
import math
import posixpath
import re
import secrets
import typing as t
from dataclasses import dataclass, field

from .budget import BudgetFull, Reservation
from .writer import TempFile

DEFAULT_MAX_ENTRIES = 1
DEFAULT_MAX_FILE_SIZE = 8_000_000
DEFAULT_CHUNK_SIZE = 64_000
DEFAULT_CHUNK_TIMEOUT = 10.0  # seconds; the client is told milliseconds
MAX_CHUNK_SIZE = 512 * 1024  # a chunk and its frame fit the socket's 1 MiB message limit
NAME_CHARS = 255  # a client's file name is kept (for display) to this many characters
REF_CHARS = 20  # the client's entry refs are a counter: a longer one is ignored
MAX_EXTRA_ENTRIES = 10  # entries kept beyond max_entries (shown as too many); more are ignored
TYPE_CHARS = 100
# Not shown from a client's file name or type: control characters (NUL, which PostgreSQL
# refuses to store) and the bidi formatting ones, which make "invoice\u202egnp.exe" read
# as "invoiceexe.png".
UNSHOWN = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")

# Why an entry (or the whole upload) is refused, as Phoenix names it, and how to say it.
MESSAGES = {
    "too_large": "The file is too large.",
    "not_accepted": "This type of file is not accepted.",
    "too_many_files": "Too many files.",
    "timeout": "The upload stopped: nothing arrived for too long.",
    "incomplete": "The upload ended before the whole file arrived.",
    "writer_error": "The file could not be saved.",
    "external_client_failure": "The browser could not send the file.",
    "too_slow": "The upload was too slow: it did not finish in time.",
    "expired": "The file was not saved in time: choose it again.",
    "socket_full": "Too many files are waiting to be saved on this page: save or cancel some.",
    "server_full": "The server is receiving too many files right now: try again later.",
}
FULL = {"socket_full", "server_full"}  # refusals for want of room, which may be freed later


class UploadError(ValueError):
    """A misuse of the upload API by the app (not by a client): a bad option, an unknown name."""


@dataclass(eq=False)
class UploadEntry:
    """One chosen file. ``client_*`` is what the browser said; the rest is what the server saw."""

    ref: str
    upload_ref: str
    client_name: str
    client_size: int
    client_type: str
    client_last_modified: int | None = None
    valid: bool = True
    preflighted: bool = False
    done: bool = False
    cancelled: bool = False
    progress: int = 0  # percent of ``client_size`` the server has received
    received: int = 0  # bytes written to ``file``
    file: TempFile | None = None
    extension: str = ""  # the client's, only if ``accept`` lists it: safe to end a stored name
    registered: bool = False  # its upload channel joined: a token joins once
    release: t.Callable[[], None] | None = field(default=None, repr=False)  # ends that channel
    reservation: Reservation | None = field(default=None, repr=False)  # its bytes, counted
    preflighted_at: float = 0.0  # on ``Holding.clock``: its minimum rate counts from there
    preflighted_loop: float = 0.0  # the same moment, on the loop's clock
    deadline: float = 0.0  # on ``Holding.clock``: joined by then, or (joined) complete by then
    latest: float = 0.0  # on the loop's clock: however long its socket went unread, gone by then
    timer: asyncio.TimerHandle | None = field(default=None, repr=False)  # its deadline

    @property
    def path(self) -> str | None:
        """Where the received bytes are, once the file is complete."""
        return self.file.path if self.done and self.file is not None else None

    @property
    def client_extension(self) -> str:
        """The extension of the client's file name (``".png"``), letters and digits only."""
        letters = re.sub(r"[^a-z0-9]", "", posixpath.splitext(self.client_name)[1].lower())
        return f".{letters[:15]}" if letters else ""

    def discard(self) -> None:
        """Remove the temporary file, whatever state the entry is in, and give its room back."""
        self.stop_timer()
        if self.file is not None:
            self.file.discard()
            self.file = None
        if self.reservation is not None:
            self.reservation.release()
            self.reservation = None

    def stop_timer(self) -> None:
        """No deadline any more: the entry is being consumed, or is gone."""
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


@dataclass(frozen=True)
class Holding:
    """What a preflighted entry may hold on disk, and for how long (``LiveConfig``'s bounds)."""

    reserve: t.Callable[[int], Reservation]  # the socket's room for that many bytes
    min_rate: int  # bytes a second an upload averages from its preflight, at least
    expiry: float  # seconds a complete file waits to be consumed
    changed: t.Callable[[], None]  # shows the view what expired
    clock: t.Callable[[], float]  # the socket's reading time: uploads' deadlines run on it


@dataclass(eq=False)
class UploadConfig:
    """What ``allow_upload`` set for one name, and the entries chosen for it."""

    name: str
    accept: tuple[str, ...] = ()  # ".png", "image/*", "application/pdf"; empty: anything
    max_entries: int = DEFAULT_MAX_ENTRIES
    max_file_size: int = DEFAULT_MAX_FILE_SIZE
    chunk_size: int = DEFAULT_CHUNK_SIZE
    chunk_timeout: float = DEFAULT_CHUNK_TIMEOUT
    auto_upload: bool = False
    # Called as ``progress(name, entry, socket)`` after each progress event (Phoenix's
    # ``progress:``): an auto upload can consume an entry as soon as it is done.
    progress_callback: t.Callable[[str, UploadEntry, t.Any], t.Any] | None = field(
        default=None, repr=False
    )
    ref: str = field(default_factory=lambda: f"phx-{secrets.token_urlsafe(12)}")
    entries: list[UploadEntry] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (entry or config ref, reason)
    holding: Holding | None = field(default=None, repr=False)  # the socket's, from a preflight

    def __post_init__(self) -> None:
        for option in ("max_entries", "max_file_size", "chunk_size"):
            value = getattr(self, option)
            if type(value) is not int or value < 1:
                raise UploadError(f"allow_upload({self.name!r}): {option} must be an int >= 1")
        if self.chunk_size > MAX_CHUNK_SIZE:
            raise UploadError(
                f"allow_upload({self.name!r}): chunk_size is at most {MAX_CHUNK_SIZE}"
            )
        if not self.chunk_timeout > 0:
            raise UploadError(f"allow_upload({self.name!r}): chunk_timeout must be > 0 seconds")
        for item in self.accept:
            if not (item.startswith(".") or "/" in item):
                raise UploadError(
                    f"allow_upload({self.name!r}): accept {item!r} is neither "
                    "an extension ('.png') nor a type ('image/png', 'image/*')"
                )

    # -- what templates read -------------------------------------------------

    def entry_errors(self, entry: UploadEntry | None = None) -> list[str]:
        """Messages for ``entry``'s errors, or for the upload's own (too many files)."""
        ref = self.ref if entry is None else entry.ref
        return [MESSAGES.get(reason, reason) for key, reason in self.errors if key == ref]

    @property
    def done_entries(self) -> list[UploadEntry]:
        return [entry for entry in self.entries if entry.done]

    # -- what the client says ----------------------------------------------------

    def put_entries(self, client_entries: t.Any) -> None:
        """Add the files the client chose (those not known yet), checking each."""
        if not isinstance(client_entries, list):
            return
        room = self.max_entries + MAX_EXTRA_ENTRIES - len(self.entries)
        fresh = [
            item
            for item in client_entries[: self.max_entries + MAX_EXTRA_ENTRIES]
            if isinstance(item, dict)
            and len(str(item.get("ref"))) <= REF_CHARS
            and self.entry(str(item.get("ref"))) is None
        ][: max(room, 0)]
        if self.max_entries == 1 and len(fresh) == 1:
            for entry in list(self.entries):  # a single file input: a new file replaces the old
                self.cancel(entry.ref)
        for item in fresh:
            self._add(item)
        self._count()

    def _add(self, item: dict[str, t.Any]) -> None:
        size = item.get("size")
        entry = UploadEntry(
            ref=str(item.get("ref")),
            upload_ref=self.ref,
            client_name=UNSHOWN.sub("", str(item.get("name") or ""))[:NAME_CHARS],
            client_size=size if type(size) is int and size >= 0 else -1,
            # Types are case-insensitive: IMAGE/PNG is image/png.
            client_type=UNSHOWN.sub("", str(item.get("type") or "")).lower()[:TYPE_CHARS],
            client_last_modified=_integer(item.get("last_modified")),
        )
        # An accepted type does not make the name's extension safe ("evil.html" as image/png):
        # only an extension the app listed may end a file name of its making.
        if entry.client_extension in self.accept:
            entry.extension = entry.client_extension
        if not 0 <= entry.client_size <= self.max_file_size:
            self._refuse(entry, "too_large")
        elif not self.accepts(entry):
            self._refuse(entry, "not_accepted")
        self.entries.append(entry)

    def accepts(self, entry: UploadEntry) -> bool:
        """By declared type (``image/*`` too) or by extension, as the file input's ``accept``."""
        if not self.accept:
            return True
        kind = entry.client_type
        family = kind.partition("/")[0] + "/*"
        return any(item in (kind, family, entry.client_extension) for item in self.accept)

    def _refuse(self, entry: UploadEntry, reason: str) -> None:
        entry.valid = False
        self.errors.append((entry.ref, reason))

    def _count(self) -> None:
        """Too many entries is an error of the whole upload, until some are cancelled."""
        self.errors = [(ref, reason) for ref, reason in self.errors if reason != "too_many_files"]
        if len(self.entries) > self.max_entries:
            self.errors.append((self.ref, "too_many_files"))

    def preflight(self, client_entries: t.Any, holding: Holding) -> dict[str, t.Any]:
        """Mark entries preflighted; ``{"entries": [...]}`` or ``{"error": [...]}``.

        A manual upload sends nothing while any entry is invalid or there are
        too many (the form cannot be submitted). An auto upload, as Phoenix's,
        sends the valid entries up to ``max_entries``; the rest wait, with
        "too many files" shown, until the person cancels some. Each entry sent
        holds its declared size of ``holding``'s room until its file goes; one
        that finds no room is refused, and says so.
        """
        if not isinstance(client_entries, list):
            return {"error": []}
        client_entries = client_entries[: self.max_entries + MAX_EXTRA_ENTRIES]
        self.put_entries(client_entries)
        refs = [str(item.get("ref")) for item in client_entries if isinstance(item, dict)]
        self._reconsider(refs)
        problems = [[ref, reason] for ref, reason in self.errors if ref in refs or ref == self.ref]
        if problems and not self.auto_upload:
            return {"error": problems}
        taken = sum(1 for entry in self.entries if entry.preflighted or entry.done)
        ready = [
            entry
            for entry in self.entries
            if entry.ref in refs and entry.valid and not entry.preflighted and not entry.done
        ][: max(self.max_entries - taken, 0)]
        self.holding = holding
        for entry in ready:
            try:
                entry.reservation = holding.reserve(entry.client_size)
            except BudgetFull as full:
                self._refuse(entry, full.reason)
                continue
            entry.preflighted = True
            entry.preflighted_at = holding.clock()
            entry.preflighted_loop = asyncio.get_running_loop().time()
            # Its room is held only while it is on its way: it must join within a chunk
            # timeout (``joined`` sets the whole upload's deadline), or its room goes.
            self._expire_by(entry, entry.preflighted_at + self.chunk_timeout)
        sent = [entry for entry in ready if entry.preflighted]
        if len(sent) < len(ready) and not self.auto_upload:
            for entry in sent:  # a form is sent whole or not at all
                entry.discard()
                entry.preflighted = False
            refused = {entry.ref for entry in ready if not entry.valid}
            return {"error": [[ref, reason] for ref, reason in self.errors if ref in refused]}
        return {"entries": sent}

    def _reconsider(self, refs: list[str]) -> None:
        """Entries a full budget refused may have room now (others' files went): they try again
        at their next preflight (the browser's next submit) instead of being refused for good."""
        again = {ref for ref, reason in self.errors if ref in refs and reason in FULL}
        if again:
            self.errors = [(ref, reason) for ref, reason in self.errors if ref not in again]
            for entry in self.entries:
                if entry.ref in again:
                    entry.valid = True

    def joined(self, entry: UploadEntry) -> None:
        """Its channel joined: the whole upload's deadline, counted from its preflight, holds
        from now (one byte now and then keeps no file, and its room, forever)."""
        if self.holding is not None:
            whole = self.chunk_timeout + entry.client_size / self.holding.min_rate
            self._expire_by(entry, entry.preflighted_at + whole)

    def behind(self, entry: UploadEntry) -> bool:
        """Slower than ``min_rate`` on average since its preflight, after a ``chunk_timeout``
        of grace: the deadline's rule, checked as each chunk arrives."""
        if self.holding is None:
            return False
        late = self.holding.clock() - entry.preflighted_at - self.chunk_timeout
        return late > 0 and entry.received < late * self.holding.min_rate

    def _expire_by(self, entry: UploadEntry, deadline: float) -> None:
        """Give an upload on its way up to ``deadline`` (on the socket's reading time).

        The time its socket goes unread (its view busy) is not the upload's,
        up to the deadline's own length and a ``chunk_timeout`` more: a client
        that keeps its own view busy cannot hold its room for longer.
        """
        assert self.holding is not None
        entry.deadline = deadline
        allowed = deadline - entry.preflighted_at
        entry.latest = entry.preflighted_loop + 2 * allowed + self.chunk_timeout
        self._expire_in(entry, deadline - self.holding.clock())

    def _expire_in(self, entry: UploadEntry, seconds: float) -> None:
        entry.stop_timer()
        entry.timer = asyncio.get_running_loop().call_later(seconds, self._expired, entry)

    def _expired(self, entry: UploadEntry) -> None:
        """An upload past its deadline, or a complete file never consumed: its bytes go."""
        entry.timer = None
        if entry not in self.entries or not entry.preflighted:
            return
        now = asyncio.get_running_loop().time()
        left = min(entry.deadline - self.holding.clock(), entry.latest - now) if self.holding else 0
        if not entry.done and left > 0:  # its socket went unread meanwhile: that time is not its
            self._expire_in(entry, left)
            return
        self.fail(entry, "expired" if entry.done else "too_slow")
        if entry.release is not None:
            entry.release()  # its channel ends: the client stops sending
        if self.holding is not None:
            self.holding.changed()

    def progress(self, entry_ref: t.Any, progress: t.Any) -> None:
        """The client's word on an entry: an error it hit, or how far it got.

        How far is the server's own count; the client's ``100`` is believed
        only when every declared byte arrived.
        """
        entry = self.entry(entry_ref)
        if entry is None or entry.done or not entry.valid:
            return
        if isinstance(progress, dict):
            self.fail(entry, "external_client_failure")
        elif progress == 100 and entry.received < entry.client_size:
            self.fail(entry, "incomplete")

    def received(self, entry: UploadEntry, size: int) -> None:
        """The upload channel wrote ``size`` more bytes of ``entry``."""
        entry.received += size
        total = max(entry.client_size, 1)
        entry.progress = min(100, math.floor(entry.received * 100 / total))
        if entry.received == entry.client_size and entry.file is not None:
            entry.file.close()  # nothing more is written
            entry.done = True
            entry.progress = 100
            if self.holding is not None:
                self._expire_in(entry, self.holding.expiry)  # consumed by then, or it goes

    def fail(self, entry: UploadEntry, reason: str) -> None:
        """``entry`` cannot finish: its bytes are dropped, and the reason shown."""
        entry.discard()
        if entry.valid and not entry.cancelled:
            self._refuse(entry, reason)
        entry.preflighted = entry.done = False

    def cancel(self, entry_ref: t.Any) -> UploadEntry | None:
        """Forget an entry and its bytes (a cancel button, or a replaced single file)."""
        entry = self.entry(entry_ref)
        if entry is not None:
            entry.cancelled = True
            if entry.release is not None:
                entry.release()
            entry.discard()
            self.entries.remove(entry)
            self.errors = [(ref, reason) for ref, reason in self.errors if ref != entry.ref]
            self._count()
        return entry

    def entry(self, entry_ref: t.Any) -> UploadEntry | None:
        return next((entry for entry in self.entries if entry.ref == entry_ref), None)

    def client_config(self) -> dict[str, t.Any]:
        """The limits the client obeys (it is checked against them all the same)."""
        return {
            "max_file_size": self.max_file_size,
            "max_entries": self.max_entries,
            "chunk_size": self.chunk_size,
            "chunk_timeout": int(self.chunk_timeout * 1000),
        }

    def close(self) -> None:
        """The view is gone: every upload channel and temporary file goes with it."""
        for entry in self.entries:
            entry.cancelled = True
            if entry.release is not None:
                entry.release()
            entry.discard()


def _integer(value: t.Any) -> int | None:
    return value if type(value) is int else None
