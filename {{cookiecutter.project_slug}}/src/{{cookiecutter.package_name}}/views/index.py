"""The home page: links to every sample view."""

from typing import Any

from ..live import LiveView, LiveViewSocket


class IndexLive(LiveView[dict[str, Any]]):
    template_name = "index.html"

    async def mount(self, socket: LiveViewSocket[dict[str, Any]], session: dict[str, Any]) -> None:
        socket.context = {
            "samples": [
                {
                    "path": "/counter",
                    "name": "Counter",
                    "about": "events, typed URL params, live patches",
                },
            ]
        }
        socket.live_title = "Home"
