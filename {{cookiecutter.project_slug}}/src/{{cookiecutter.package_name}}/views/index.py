"""The home page: links to every sample view."""

from typing import Any

from ..live import LiveView, LiveViewSocket


class IndexLive(LiveView[dict[str, Any]]):
    template_name = "index.html"

    async def mount(self, socket: LiveViewSocket[dict[str, Any]], session: dict[str, Any]) -> None:
        socket.context = {
            "samples": [
                {
                    "path": "/contacts",
                    "name": "Contacts",
                    "about": "a database-backed CRUD: paging, sorting and search in the URL,"
                    " forms checked as you type, files uploaded with progress and previews,"
                    " live for every viewer, with presence",
                },
                {
                    "path": "/counter",
                    "name": "Counter",
                    "about": "events, typed URL params, live patches",
                },
                {
                    "path": "/dashboard",
                    "name": "Dashboard",
                    "about": "refreshes itself on a schedule (schedule_info, handle_info)",
                },
                {
                    "path": "/lobby",
                    "name": "Lobby",
                    "about": "who's here, live in every tab (presence), and a wave (broadcast)",
                },
            ]
        }
        socket.live_title = "Home"
