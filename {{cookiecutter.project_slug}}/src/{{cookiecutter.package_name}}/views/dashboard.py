"""A dashboard that keeps itself current: the server's time and the latest contact changes.

``mount`` schedules a repeating ``refresh`` with ``schedule_info``; each one
reaches ``handle_info``, which re-reads the figures, and the runtime pushes
what changed (a contact someone just saved shows up within a tick). On the
HTTP render nothing is scheduled (the page shows the figures once); the
schedule starts when the browser connects.

The contact statistics stand for a slow report: ``assign_async`` computes
them beside the view once it is connected, and the template shows
``statistics.loading``, then ``statistics.result`` or ``statistics.failed``.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

from sqlalchemy import func, select

from ..db import Database
from ..live import (
    AsyncResult,
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveView,
    LiveViewSocket,
    UnhandledEvent,
    is_connected,
)
from ..models import Contact, Status
from ..resources import database
from .loading import RETRY, Loading

REFRESH = InfoEvent("refresh")
CHANGES = 5  # the latest contact changes shown


@dataclass(frozen=True)
class Statistics:
    contacts: int
    by_status: list[tuple[str, int]]  # every status, in order, with its count
    average_score: float | None  # None without contacts


@dataclass(frozen=True)
class Change:
    id: int
    name: str
    at: str  # when it was last saved, as the page shows it


@dataclass
class Dashboard:
    period: float
    connected: bool
    time: str = ""
    changes: list[Change] = field(default_factory=list)  # the latest first
    refreshes: int = 0
    paused: bool = False
    loading: Loading = field(default_factory=Loading)  # the figures' read: the database may fail
    statistics: AsyncResult[Statistics] = field(default_factory=AsyncResult)


class DashboardLive(LiveView[Dashboard]):
    template_name = "dashboard.html"
    period = 1.0  # seconds between refreshes
    report_time = 0.5  # seconds the statistics take at least: a stand-in for a slow report

    async def mount(self, socket: LiveViewSocket[Dashboard], session: dict[str, Any]) -> None:
        socket.context = Dashboard(period=self.period, connected=is_connected(socket))
        socket.live_title = "Dashboard"
        await refresh(socket)
        self.job = socket.schedule_info(REFRESH, self.period)  # does nothing until connected
        self._count(socket)

    async def handle_info(
        self, event: InfoEvent, socket: ConnectedLiveViewSocket[Dashboard]
    ) -> None:
        # A tick already queued when "pause" cancelled the job still arrives: skip it.
        if event == REFRESH and not socket.context.paused:
            await refresh(socket)
            socket.context.refreshes += 1

    async def handle_event(self, event: str, socket: ConnectedLiveViewSocket[Dashboard]) -> None:
        if event == "pause":
            self.job.cancel()
            socket.context.paused = True
        elif event == RETRY:
            await refresh(socket)
        elif event == "recount":
            self._count(socket)
        elif event == "resume":
            self.job.cancel()  # one schedule at a time, however often "resume" is sent
            self.job = socket.schedule_info(REFRESH, self.period)
            socket.context.paused = False
            await refresh(socket)
        else:
            raise UnhandledEvent(event)

    def _count(self, socket: LiveViewSocket[Dashboard]) -> None:
        """Compute the statistics beside the view (the last ones stay shown meanwhile)."""
        db, delay = database(socket), self.report_time
        socket.assign_async("statistics", partial(statistics, db, delay))  # async: on the loop


async def statistics(db: Database, delay: float) -> Statistics:
    """Contacts by status and their average score, after ``delay`` seconds."""
    await asyncio.sleep(delay)
    async with db.session() as session:
        rows = await session.execute(
            select(Contact.status, func.count(), func.sum(Contact.score)).group_by(Contact.status)
        )
    counts, scores = {}, 0
    for status, count, score in rows:
        counts[status] = count
        scores += score or 0
    total = sum(counts.values())
    return Statistics(
        contacts=total,
        by_status=[(status.value, counts.get(status.value, 0)) for status in Status],
        average_score=scores / total if total else None,
    )


async def refresh(socket: LiveViewSocket[Dashboard]) -> None:
    """Read the clock and the latest changes into the dashboard (the changes stay as they
    were when the database fails: the page says so, and the next tick tries again)."""
    dashboard = socket.context
    dashboard.time = datetime.now().astimezone().strftime("%H:%M:%S %Z")

    async def changes() -> None:
        latest = (
            select(Contact.id, Contact.name, Contact.updated_at)
            .order_by(Contact.updated_at.desc(), Contact.id.desc())
            .limit(CHANGES)
        )
        async with database(socket).session() as session:
            rows = await session.execute(latest)
        dashboard.changes = [Change(key, name, _shown(at)) for key, name, at in rows]

    await dashboard.loading.run(socket, changes)


def _shown(at: datetime) -> str:
    """A time of the database (SQLite's has no zone: it is UTC) in the server's zone."""
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone().strftime("%Y-%m-%d %H:%M:%S")
