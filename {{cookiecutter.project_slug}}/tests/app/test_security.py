"""What the app sends browsers for their safety, and what it never serves.

Security headers on every response (and the official client working under
the Content-Security-Policy, in Chromium), the session cookie's attributes,
and static routes that stay inside their folders whatever the path spells.
Traversal is tried with raw request lines against the real server, since
HTTP clients tidy ``..`` away before sending.
"""

from __future__ import annotations

import os
import secrets
import socket
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Page
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route
from starlette.types import Message

import {{ cookiecutter.package_name }} as package
from {{ cookiecutter.package_name }}.app import NODE_MODULES, create_app
from {{ cookiecutter.package_name }}.live.testing.asgi import websocket_scope
from {{ cookiecutter.package_name }}.security import PublicFiles, SecurityHeadersMiddleware
from {{ cookiecutter.package_name }}.settings import PROJECT_ROOT, Settings

import raw_websocket
from browsing import WAIT_MS
{%- raw %}

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'self'; "
    "form-action 'self'; frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "referrer-policy": "strict-origin-when-cross-origin",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
}


def security_headers(response: httpx.Response) -> dict[str, str]:
    return {name: response.headers[name] for name in HEADERS if name in response.headers}


async def get(app: Starlette, path: str) -> httpx.Response:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        return await client.get(path)


def app_with(https: bool = False) -> Starlette:
    return create_app(
        Settings(secret_key=secrets.token_urlsafe(32), https=https, allowed_hosts=("testserver",))
    )


# -- headers -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/counter", 200),
        ("/static/app.css", 200),
        ("/assets/phoenix/phoenix.min.js", 200),
        ("/no-such-page", 404),
        ("/counter?count=abc", 400),
    ],
)
async def test_every_response_carries_the_security_headers(path: str, status: int) -> None:
    response = await get(app_with(), path)
    assert response.status_code == status
    assert security_headers(response) == HEADERS


async def test_a_route_that_sets_a_header_itself_keeps_it() -> None:
    async def framed(request: Request) -> PlainTextResponse:
        return PlainTextResponse("ok", headers={"X-Frame-Options": "SAMEORIGIN"})

    app = Starlette(
        routes=[Route("/framed", framed)], middleware=[Middleware(SecurityHeadersMiddleware)]
    )
    response = await get(app, "/framed")
    assert security_headers(response) == {**HEADERS, "x-frame-options": "SAMEORIGIN"}
    assert response.headers.get_list("x-frame-options") == ["SAMEORIGIN"]


# -- the session cookie --------------------------------------------------------


@pytest.mark.parametrize(
    ("https", "attributes"),
    [
        (False, {"path=/", "max-age=1209600", "httponly", "samesite=lax"}),
        (True, {"path=/", "max-age=1209600", "httponly", "samesite=lax", "secure"}),
    ],
)
async def test_the_session_cookie_is_httponly_lax_and_secure_over_https(
    https: bool, attributes: set[str]
) -> None:
    response = await get(app_with(https=https), "/counter")
    [cookie] = [
        value for value in response.headers.get_list("set-cookie") if value.startswith("session=")
    ]
    _, *rest = cookie.split("; ")
    assert {attribute.lower() for attribute in rest} == attributes


# -- allowed origins -----------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        ("http://testserver", True),  # the page's own origin
        ("https://app.example", True),
        ("http://localhost:5173", True),
        ("https://evil.example", False),
        ("http://localhost:5174", False),
        ("null", False),
    ],
)
async def test_allowed_origins_may_open_the_socket(origin: str, accepted: bool) -> None:
    settings = Settings.from_env(
        {
            "SECRET_KEY": "x",
            "ALLOWED_ORIGINS": "HTTPS://App.Example:443, http://localhost:5173",
            "ALLOWED_HOSTS": "testserver",
        },
        None,
    )
    scope = websocket_scope("testserver", "/live/websocket", {"vsn": "2.0.0"}, "")
    scope["headers"] = [(name, value) for name, value in scope["headers"] if name != b"origin"]
    scope["headers"].append((b"origin", origin.encode()))
    inbox: list[Message] = [{"type": "websocket.disconnect", "code": 1000}]
    inbox.append({"type": "websocket.connect"})
    sent: list[Message] = []

    async def receive() -> Message:
        return inbox.pop()

    async def send(message: Message) -> None:
        sent.append(message)

    await create_app(settings)(scope, receive, send)
    if accepted:
        assert [message["type"] for message in sent] == ["websocket.accept"]
    else:
        assert sent == [{"type": "websocket.close", "code": 1008, "reason": ""}]


# -- static files --------------------------------------------------------------

PACKAGE = Path(package.__file__).parent
STATIC = PACKAGE / "static"
MOUNTS = {
    "/static": STATIC,
    "/assets/phoenix": NODE_MODULES / "phoenix" / "priv" / "static",
    "/assets/phoenix_live_view": NODE_MODULES / "phoenix_live_view" / "priv" / "static",
}
# Files next to or above each folder that must never be served.
OUTSIDE = [
    ("/static", "../app.py"),
    ("/static", "../settings.py"),
    ("/static", "../../../.env"),
    ("/static", "../../../pyproject.toml"),
    ("/assets/phoenix", "../../package.json"),
    ("/assets/phoenix", "../../../../../.env"),
    ("/assets/phoenix_live_view", "../../package.json"),
    ("/assets/phoenix_live_view", f"../../../../../src/{PACKAGE.name}/settings.py"),
]
# Spellings of "../" a server or a file system might decode.
DOT_DOT = [
    "../",
    "..%2f",
    "..%2F",
    "%2e%2e/",
    "%2E%2E%2F",
    ".%2e/",
    "%252e%252e%252f",
    "..%5c",
    "..\\",
    "..%c0%af",
    "%2e%2e%u2215",
]


def raw_get(base_url: str, target: str, host: str | None = None) -> tuple[int, bytes]:
    """Send ``GET target`` exactly as written, and return the status and body.

    ``host`` is the ``Host`` header, the server's own address unless given.
    """
    address = urlsplit(base_url)
    assert address.hostname and address.port
    host = host or address.netloc
    with socket.create_connection((address.hostname, address.port), WAIT_MS / 1000) as connection:
        connection.sendall(
            f"GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := connection.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


# -- allowed hosts: no DNS rebinding --------------------------------------------

# A page of evil.example whose name comes to resolve to this machine reaches the
# server with evil.example in Host, and its own origin (which then matches it).
FOREIGN_HOSTS = [
    "evil.example:{port}",
    "evil.example",
    "localhost.evil.example:{port}",
    "127.0.0.1.nip.io:{port}",
    "[::2]:{port}",
]
LOCAL_HOSTS = ["localhost:{port}", "127.0.0.1:{port}", "[::1]:{port}", "LocalHost:{port}"]


@pytest.mark.parametrize(
    ("host", "status"), [(host, 400) for host in FOREIGN_HOSTS] + [(h, 200) for h in LOCAL_HOSTS]
)
def test_pages_answer_to_this_machines_names_only(live_server: str, host: str, status: int) -> None:
    host = host.format(port=urlsplit(live_server).port)
    answer, body = raw_get(live_server, "/contacts", host)
    assert answer == status
    if status == 400:
        assert body == b"Invalid host header"


@pytest.mark.parametrize(
    ("host", "status"), [(host, 400) for host in FOREIGN_HOSTS] + [(h, 101) for h in LOCAL_HOSTS]
)
def test_the_socket_answers_to_this_machines_names_only(
    live_server: str, host: str, status: int
) -> None:
    port = urlsplit(live_server).port
    assert port is not None
    host = host.format(port=port)
    connection, head = raw_websocket.handshake(port, host=host, origin=f"http://{host}")
    with connection:
        assert raw_websocket.status(head) == status


@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("app.example.com", 200),
        ("APP.Example.com:8443", 200),
        ("shop.example.org", 200),
        ("example.org", 400),  # *.example.org is its subdomains only
        ("app.example.com.evil.net", 400),
        ("localhost", 400),  # a list replaces the default
    ],
)
async def test_allowed_hosts_name_the_sites_domains(host: str, status: int) -> None:
    settings = Settings.from_env(
        {"SECRET_KEY": "x", "ALLOWED_HOSTS": "App.Example.com, *.example.org"}, None
    )
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url=f"http://{host}") as client:
        response = await client.get("/counter")
    assert response.status_code == status
    assert security_headers(response) == HEADERS  # the refusal too


@pytest.mark.parametrize(
    ("target", "file"),
    [
        ("/static/app.js", STATIC / "app.js"),
        ("/assets/phoenix/phoenix.min.js", MOUNTS["/assets/phoenix"] / "phoenix.min.js"),
    ],
)
def test_raw_requests_serve_files_inside_the_folders(
    live_server: str, target: str, file: Path
) -> None:
    assert raw_get(live_server, target) == (200, file.read_bytes())


@pytest.mark.parametrize("dot_dot", DOT_DOT)
@pytest.mark.parametrize(("mount", "relative"), OUTSIDE)
def test_no_spelling_of_dot_dot_leaves_a_folder(
    live_server: str, mount: str, relative: str, dot_dot: str
) -> None:
    assert (MOUNTS[mount] / relative).resolve().is_file()  # it is there to be found
    target = f"{mount}/{relative.replace('../', dot_dot)}"
    assert_not_found(raw_get(live_server, target))


@pytest.mark.parametrize("mount", MOUNTS)
@pytest.mark.parametrize("prefix", ["/", "%2f", "%5c", "\\"])
def test_absolute_paths_are_not_served(live_server: str, mount: str, prefix: str) -> None:
    secret = PROJECT_ROOT.resolve() / ".env"
    assert secret.is_file()
    assert_not_found(raw_get(live_server, f"{mount}/{prefix}{str(secret).lstrip('/')}"))


def assert_not_found(answer: tuple[int, bytes]) -> None:
    """The app's 404 page: nothing of a file, served or not."""
    status, body = answer
    assert status == 404 and b"There is no page at this address." in body, (status, body[:200])


@pytest.fixture
def public(tmp_path: Path) -> Starlette:
    """A folder with public files, private files, and symlinks in and out of it."""
    folder = tmp_path / "public"
    (folder / "sub" / ".git").mkdir(parents=True)
    (folder / "app.js").write_text("public")
    (folder / "sub" / "page.css").write_text("public too")
    (folder / ".env").write_text("SECRET_KEY=leaked")
    (folder / "sub" / ".git" / "config").write_text("leaked")
    (folder / "views.py").write_text("leaked")
    (folder / "views.PYC").write_text("leaked")
    (tmp_path / "secret.txt").write_text("leaked")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "file.txt").write_text("leaked")
    os.symlink(tmp_path / "secret.txt", folder / "secret.txt")
    os.symlink(tmp_path / "outside", folder / "outside")
    os.symlink(folder / "app.js", folder / "alias.js")
    return Starlette(routes=[Mount("/public", PublicFiles(directory=folder))])


@pytest.mark.parametrize(
    ("path", "status", "body"),
    [
        ("/public/app.js", 200, "public"),
        ("/public/sub/page.css", 200, "public too"),
        ("/public/alias.js", 200, "public"),  # a symlink that stays inside
        ("/public/.env", 404, "Not Found"),
        ("/public/sub/.git/config", 404, "Not Found"),
        ("/public/views.py", 404, "Not Found"),
        ("/public/views.PYC", 404, "Not Found"),
        ("/public/secret.txt", 404, "Not Found"),
        ("/public/outside/file.txt", 404, "Not Found"),
    ],
)
async def test_public_files_hide_dotfiles_python_and_symlinks_out(
    public: Starlette, path: str, status: int, body: str
) -> None:
    response = await get(public, path)
    assert (response.status_code, response.text) == (status, body)


# -- the official client under the policy, in Chromium -------------------------

RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push([event.effectiveDirective, event.blockedURI]);
});
"""
CONNECTED = "() => document.querySelector('[data-phx-main]')?.classList.contains('phx-connected')"


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_the_client_works_under_the_policy(page: Page) -> None:
    await page.add_init_script(RECORD_VIOLATIONS)
    response = await page.goto("/counter?count=1")
    assert response is not None
    assert {name: value for name, value in response.headers.items() if name in HEADERS} == HEADERS
    await page.wait_for_function(CONNECTED, timeout=WAIT_MS)  # its WebSocket is 'self'
    await page.click("#increment")
    await page.wait_for_function(
        "() => document.querySelector('#count').textContent === '2'", timeout=WAIT_MS
    )
    await page.click("header a")  # live navigation to another view
    await page.wait_for_function("() => document.title === 'Home'", timeout=WAIT_MS)
    assert await page.evaluate("window.__violations") == []


@pytest.mark.browser
@pytest.mark.asyncio(loop_scope="session")
async def test_the_browser_enforces_the_policy(browser: Browser, live_server: str) -> None:
    """The test above means something: inline code and other origins are refused."""
    context = await browser.new_context(base_url=live_server)
    context.set_default_timeout(WAIT_MS)
    try:
        page = await context.new_page()
        await page.add_init_script(RECORD_VIOLATIONS)
        await page.goto("/counter")
        await page.wait_for_function(CONNECTED, timeout=WAIT_MS)
        await page.evaluate(
            """() => {
              const script = document.createElement("script");
              script.textContent = "window.__inline = true";
              document.body.append(script);
              document.body.insertAdjacentHTML("beforeend", '<p style="color: red">x</p>');
              try { new WebSocket("ws://localhost:1/live/websocket"); } catch {}
            }"""
        )
        await page.wait_for_function("() => window.__violations.length === 3", timeout=WAIT_MS)
        assert sorted(await page.evaluate("window.__violations")) == [
            ["connect-src", "ws://localhost:1/live/websocket"],
            ["script-src-elem", "inline"],
            ["style-src-attr", "inline"],
        ]
        assert await page.evaluate("window.__inline === undefined")
    finally:
        await context.close()
{%- endraw %}
