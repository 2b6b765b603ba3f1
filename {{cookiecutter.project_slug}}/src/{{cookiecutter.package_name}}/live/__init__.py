"""A LiveView runtime speaking the official Phoenix LiveView client's protocol.

The app imports only these names; everything else is the runtime's own.
"""

from .async_result import AsyncResult, Cancelled
from .binding import BindingError
from .compiler import pure
from .component import ComponentMeta, ComponentSocket, LiveComponent
from .config import LiveConfig
from .diff import diff_tree
from .js import JsCommands, js
from .params import Params
from .presence import Presence
from .pubsub import RESYNC, PubSub, PubSubError, create_pubsub
from .routes import LiveRoutes
from .scheduler import Job
from .socket import (
    ConnectedLiveViewSocket,
    InfoEvent,
    LiveViewSocket,
    UnsafeRedirect,
    is_connected,
)
from .stream import Stream
from .template import LiveEnvironment, LiveUndefined, render_template, render_tree
from .tree import to_html
from .uploads import UploadConfig, UploadEntry, UploadError, remove_stale_uploads
from .view import LiveView, UnhandledEvent

__all__ = [
    "AsyncResult",
    "RESYNC",
    "BindingError",
    "Cancelled",
    "ComponentMeta",
    "ComponentSocket",
    "ConnectedLiveViewSocket",
    "InfoEvent",
    "Job",
    "JsCommands",
    "LiveComponent",
    "LiveConfig",
    "LiveEnvironment",
    "LiveRoutes",
    "LiveUndefined",
    "LiveView",
    "LiveViewSocket",
    "Params",
    "Presence",
    "PubSub",
    "PubSubError",
    "Stream",
    "UnhandledEvent",
    "UnsafeRedirect",
    "UploadConfig",
    "UploadEntry",
    "UploadError",
    "create_pubsub",
    "diff_tree",
    "is_connected",
    "js",
    "pure",
    "remove_stale_uploads",
    "render_template",
    "render_tree",
    "to_html",
]
