"""Signed tokens: the LiveView session in the page, the flash, and the CSRF token.

The page's session token is what lets a WebSocket join mount a view with the
session the HTTP render saw, so it is bound to everything it was issued for:
the container (the topic the client joins), the view (the URL's route), the
browser session (its CSRF token) and a maximum age.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import typing as t
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

CSRF_KEY = "_csrf_token"
FLASH_COOKIE = "__phoenix_flash__"  # where the client keeps a flash across a page load
FLASH_MAX_AGE = 60


class InvalidToken(ValueError):
    """A token was forged, expired, or issued for something else; ``reason`` is the reply's."""

    def __init__(self, reason: t.Literal["unauthorized", "stale"], detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class Signer:
    """Signs a dict into a token the server alone can have made, valid for ``max_age`` s."""

    def __init__(self, secret_key: str, salt: str, max_age: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=salt)
        self.max_age = max_age

    def dumps(self, data: dict[str, t.Any]) -> str:
        return self._serializer.dumps(data)

    def verify(self, token: t.Any) -> dict[str, t.Any]:
        """The dict in ``token``; ``InvalidToken`` when it is forged, expired or not a token."""
        if not isinstance(token, str):
            raise InvalidToken("unauthorized", "no token")
        try:
            data = self._serializer.loads(token, max_age=self.max_age)
        except SignatureExpired as exc:
            raise InvalidToken("stale", "token expired") from exc
        except BadSignature as exc:
            raise InvalidToken("unauthorized", "bad signature") from exc
        if not isinstance(data, dict):
            raise InvalidToken("unauthorized", "not a token of this kind")
        return data

    def loads(self, token: t.Any) -> dict[str, t.Any] | None:
        """Like ``verify``, but None for any bad token: for data that is optional."""
        try:
            return self.verify(token)
        except InvalidToken:
            return None


@dataclass(frozen=True)
class LiveSession:
    """What the page's ``data-phx-session`` carries to the join."""

    container_id: str
    view: str  # the view class's id, see ``view_id``
    browser: str  # digest of the browser session's CSRF token
    session: dict[str, t.Any]
    flash: dict[str, str]


class SessionTokens:
    """Issues and checks ``data-phx-session`` tokens."""

    def __init__(self, secret_key: str, max_age: int) -> None:
        self._signer = Signer(secret_key, "live-session", max_age)

    def issue(self, live_session: LiveSession) -> str:
        return self._signer.dumps(
            {
                "id": live_session.container_id,
                "view": live_session.view,
                "browser": live_session.browser,
                "session": live_session.session,
                "flash": live_session.flash,
            }
        )

    def verify(self, token: t.Any, cookie_session: t.Mapping[str, t.Any]) -> LiveSession:
        """The session in ``token``, issued to this browser session, or ``InvalidToken``."""
        data = self._signer.verify(token)
        container_id, view, browser = data.get("id"), data.get("view"), data.get("browser")
        session, flash = data.get("session"), data.get("flash")
        if not (
            isinstance(container_id, str)
            and isinstance(view, str)
            and isinstance(browser, str)
            and isinstance(session, dict)
            and isinstance(flash, dict)
        ):
            raise InvalidToken("unauthorized", "malformed session token")
        if not hmac.compare_digest(browser, browser_digest(cookie_session)):
            raise InvalidToken("unauthorized", "session token of another browser session")
        return LiveSession(container_id, view, browser, session, flash)


def flash_signer(secret_key: str) -> Signer:
    """For flash carried across a navigation (a join's ``flash``, or the flash cookie)."""
    return Signer(secret_key, "live-flash", FLASH_MAX_AGE)


def csrf_token(cookie_session: dict[str, t.Any]) -> str:
    """The CSRF token of this browser session, created on first use."""
    token = cookie_session.get(CSRF_KEY)
    if not isinstance(token, str):
        token = cookie_session[CSRF_KEY] = secrets.token_urlsafe(32)
    return token


def csrf_valid(cookie_session: t.Mapping[str, t.Any], sent: t.Any) -> bool:
    """True when ``sent`` is this browser session's CSRF token."""
    expected = cookie_session.get(CSRF_KEY)
    return (
        isinstance(expected, str) and isinstance(sent, str) and hmac.compare_digest(expected, sent)
    )


def browser_digest(cookie_session: t.Mapping[str, t.Any]) -> str:
    """Names the browser session without revealing its CSRF token (which tokens embed)."""
    token = cookie_session.get(CSRF_KEY)
    return hashlib.sha256(token.encode()).hexdigest()[:32] if isinstance(token, str) else ""


def user_session(cookie_session: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """What ``mount`` receives as ``session``: the cookie session without the CSRF secret."""
    return {key: value for key, value in cookie_session.items() if key != CSRF_KEY}
