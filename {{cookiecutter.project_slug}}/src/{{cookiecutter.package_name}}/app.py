"""The application: routes, static files, sessions, allowed hosts, security headers, lifespan."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from jinja2 import BytecodeCache, PackageLoader
from jinja2.bccache import Bucket
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.routing import Mount

from . import contacts, media
from .db import Database
from .live import LiveConfig, LiveEnvironment, LiveRoutes, remove_stale_uploads
from .live.presence import Presence
from .live.pubsub import PubSub, create_pubsub
from .resources import Resources
from .security import PublicFiles, SecurityHeadersMiddleware, UploadedFiles
from .settings import PROJECT_ROOT, Settings, get_settings
from .views.contacts.form import ContactFormLive
from .views.contacts.form_component import ContactFormComponent
from .views.contacts.index import ContactListLive
from .views.contacts.show import ContactShowLive
from .views.counter import CounterLive
from .views.dashboard import DashboardLive
from .views.index import IndexLive
from .views.lobby import LobbyLive
from .views.whos_here import WhosHerePanel

APP_NAME = {{cookiecutter.project_name | tojson}}
NODE_MODULES = PROJECT_ROOT / "assets" / "node_modules"
UPLOADS = ".uploads"  # in MEDIA_DIR: uploads in progress (a dot folder: never served)


class CompiledTemplates(BytecodeCache):
    """Jinja's compiled templates, kept in this process's memory: one entry per template
    and environment alike (its constants and its filters and tests shape the code too)."""

    def __init__(self) -> None:
        self._code: dict[tuple[str, str], bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        code = self._code.get(_key(bucket))
        if code is not None:  # Jinja compiles again if the template's source changed
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self._code[_key(bucket)] = bucket.bytecode_to_string()


def _key(bucket: Bucket) -> tuple[str, str]:
    environment = bucket.environment
    constants = sorted(getattr(environment, "constants", {}).items())
    functions = [
        (name, id(function))
        for table in (environment.filters, environment.tests)
        for name, function in sorted(table.items())
    ]
    return bucket.key, repr((constants, functions))


# Every app this process builds (the tests build hundreds) compiles a template once:
# Jinja keeps its code by name and environment, and compiles again only when the source changed.
TEMPLATE_CODE = CompiledTemplates()


def create_live_routes(settings: Settings, pubsub: PubSub) -> LiveRoutes:
    """Every LiveView of the app, by URL."""
    # Templates are re-read when they change in debug mode only: checking the file
    # at every render costs each view's diff a stat() call.
    # COLUMNS is fixed when the templates compile: the list's cells are its rows' own slots.
    environment = LiveEnvironment(
        constants={"COLUMNS": contacts.COLUMNS},
        loader=PackageLoader(__package__ or __name__, "templates"),
        auto_reload=settings.debug,
        bytecode_cache=TEMPLATE_CODE,
    )
    environment.globals["app_name"] = APP_NAME
    # The LiveComponents that templates render with live_component()
    environment.globals.update(
        ContactFormComponent=ContactFormComponent, WhosHerePanel=WhosHerePanel
    )
    # make gen-live adds its components above this line
    environment.globals["debug"] = settings.debug  # pages may say more to the developer
    # Uploads in progress are written beside the kept files: saving one is a rename.
    config = LiveConfig(
        allowed_origins=settings.allowed_origins,
        upload_dir=str(settings.media_dir / UPLOADS),
        upload_max_bytes=settings.upload_max_bytes,
    )
    live = LiveRoutes(environment, settings.secret_key, config=config, pubsub=pubsub)
    live.add("/", IndexLive, name="index")
    live.add("/counter", CounterLive, name="counter")
    live.add("/dashboard", DashboardLive, name="dashboard")
    live.add("/lobby", LobbyLive, name="lobby")
    live.add("/contacts", ContactListLive, name="contacts")
    live.add("/contacts/new", ContactFormLive, name="contact_new")
    live.add("/contacts/{id:int}", ContactShowLive, name="contact")
    live.add("/contacts/{id:int}/edit", ContactFormLive, name="contact_edit")
    # make gen-live adds its routes above this line
    return live


def create_app(settings: Settings | None = None) -> Starlette:
    """Build the ASGI app; uvicorn runs it with ``--factory``."""
    settings = settings or get_settings()
    # Connects when the lifespan starts it.
    pubsub = create_pubsub(settings.pubsub_url, prefix=settings.pubsub_prefix)
    live = create_live_routes(settings, pubsub)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[Resources]:
        # Uploads a killed process left half-done (or done but never saved) go after a day.
        remove_stale_uploads(settings.media_dir / UPLOADS, max_age=24 * 3600)
        db = Database.from_settings(settings)
        presence = Presence(
            pubsub, heartbeat=settings.presence_heartbeat, ttl=settings.presence_ttl
        )
        try:
            async with pubsub, presence:
                # request.state and socket.state
                yield {"db": db, "settings": settings, "pubsub": pubsub, "presence": presence}
        finally:
            await db.dispose()

    return Starlette(
        debug=settings.debug,
        routes=[
            *live.routes,
            Mount(
                "/static", PublicFiles(directory=Path(__file__).parent / "static"), name="static"
            ),
            # Uploaded files, named by the server; .uploads/ (a dotfile) is never served.
            Mount(
                media.URL,
                UploadedFiles(directory=settings.media_dir, check_dir=False),
                name="media",
            ),
            _assets("phoenix", "phoenix/priv/static"),
            _assets("phoenix_html", "phoenix_html/priv/static"),
            _assets("phoenix_live_view", "phoenix_live_view/priv/static"),
            _assets("pico", "@picocss/pico/css"),
        ],
        middleware=[
            Middleware(SecurityHeadersMiddleware),
            # Pages and sockets for this app's names only: no DNS rebinding (its 400 has the
            # headers above). Checked before the Origin, which is compared with the Host.
            Middleware(
                TrustedHostMiddleware, allowed_hosts=settings.allowed_hosts, www_redirect=False
            ),
            Middleware(
                SessionMiddleware,
                secret_key=settings.secret_key,
                same_site="lax",
                https_only=settings.https,
            ),
        ],
        exception_handlers=live.exception_handlers,
        lifespan=lifespan,
    )


def _assets(name: str, directory: str) -> Mount:
    """Serve an npm package's files as /assets/<name>/ (``npm ci`` in assets/ installs them)."""
    return Mount(
        f"/assets/{name}",
        PublicFiles(directory=NODE_MODULES / directory, check_dir=False),
        name=name,
    )
