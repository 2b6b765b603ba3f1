"""A counter: click events, a form, typed ``?count=`` params and live patches."""

from dataclasses import dataclass
from typing import Any

from ..live import ConnectedLiveViewSocket, LiveView, LiveViewSocket, UnhandledEvent

MIN_STEP = 1  # the form says min="1"; the server checks it too


@dataclass
class Counter:
    count: int = 0
    step: int = 1


class CounterLive(LiveView[Counter]):
    template_name = "counter.html"

    async def mount(self, socket: LiveViewSocket[Counter], session: dict[str, Any]) -> None:
        socket.context = Counter()

    async def handle_params(self, socket: LiveViewSocket[Counter], count: int = 0) -> None:
        socket.context.count = count
        socket.live_title = f"Count: {count}"

    async def handle_event(
        self, event: str, socket: ConnectedLiveViewSocket[Counter], step: int | None = None
    ) -> None:
        counter = socket.context
        if event == "increment":
            counter.count += counter.step
        elif event == "decrement":
            counter.count -= counter.step
        elif event == "set_step":
            if step is None:
                return  # an emptied field keeps the current step
            if step < MIN_STEP:
                socket.put_flash("error", f"The step must be {MIN_STEP} or more.")
                return
            socket.clear_flash("error")
            counter.step = step
        elif event == "reset":
            socket.put_flash("info", "The counter was reset.")
            await socket.push_patch("/counter", {"count": 0})
            return
        else:
            raise UnhandledEvent(event)
        socket.live_title = f"Count: {counter.count}"
