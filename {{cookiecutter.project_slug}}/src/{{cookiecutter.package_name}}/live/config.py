"""The runtime's settings: who may connect, and the bounds on what a client can make it hold.

Every number here bounds something a browser (or anything pretending to be
one) can grow. The defaults suit one process serving a few thousand sockets;
the README's "Limits" table explains each.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LiveConfig:
    """Limits and policies of the LiveView transport and channels."""

    allowed_origins: tuple[str, ...] = ()
    """Origins allowed to open the socket besides the page's own (``https://example.com``)."""

    session_max_age: int = 24 * 3600
    """Seconds a page's session token can join (then the client reloads the page)."""

    idle_timeout: float = 60.0
    """A socket that sends nothing, not even the 30 s heartbeat, for this long is closed."""

    mailbox_size: int = 64
    """Messages queued per joined view; a fuller mailbox stops reading that socket."""

    info_backlog: int = 16
    """Infos (ticks, broadcasts) a view may have waiting before a newer broadcast on a topic
    replaces the one waiting (latest wins); presence diffs always merge. See ``inbox``."""

    presence_interval: float = 0.2
    """Seconds: a view handles a topic's presence diffs at most this often; those arriving
    meanwhile merge into one, so a crowd arriving costs each view a few renders."""

    max_queued_bytes: int = 4 * 1024 * 1024
    """Frame characters queued across all of a socket's views; past it the socket is not read."""

    max_channels: int = 64
    """Views (topics) one socket may join at once."""

    send_timeout: float = 30.0
    """A socket whose client does not read a frame for this long is closed."""

    max_jobs: int = 100
    """``schedule_info`` jobs one view may have at once."""

    max_subscriptions: int = 100
    """Pub/sub topics one view may subscribe to."""

    max_presences: int = 10
    """Presences (``Presence.track``) one view may have at once."""

    max_async: int = 10
    """``assign_async``/``start_async`` work one view may run at once."""

    close_grace: float = 5.0
    """On close, a running handler may finish for this long before it is cancelled."""

    log_value_chars: int = 200
    """Client-supplied text in a log line is cut to this many characters."""

    warnings_per_minute: int = 10
    """Warnings logged per socket per minute; the rest are counted, then summarised."""

    upload_dir: str | None = None
    """Where uploads in progress are written; None: ``live-uploads`` in the system's temp folder."""

    upload_token_max_age: int = 3600
    """Seconds an upload entry's token may start its upload after the preflight."""

    upload_max_bytes: int = 256 * 1024 * 1024
    """Bytes every upload of the process may hold on disk at once: files arriving, and files
    complete but not yet consumed (each counts its declared size from its preflight)."""

    upload_socket_max_bytes: int = 64 * 1024 * 1024
    """The same, for one socket (all of its views); past either, a preflight refuses the file."""

    upload_min_rate: int = 10_000
    """Bytes a second an upload must average from its preflight (after one ``chunk_timeout``
    of grace); a slower one is given up, however often its chunks come."""

    upload_expiry: float = 600.0
    """Seconds a complete file waits to be consumed (saved); then its bytes go, and the page
    says so."""
