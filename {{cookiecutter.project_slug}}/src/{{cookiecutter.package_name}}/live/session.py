"""Signed tokens: the LiveView session in the page, and the CSRF token."""

from __future__ import annotations

import hmac
import secrets
import typing as t

from itsdangerous import BadSignature, URLSafeTimedSerializer

CSRF_KEY = "_csrf_token"


FLASH_COOKIE = "__phoenix_flash__"  # where the client keeps a flash across a page load


class Signer:
    """Signs a dict into a token the server alone can have made, valid for ``max_age`` s."""

    def __init__(self, secret_key: str, salt: str, max_age: int) -> None:
        self._serializer = URLSafeTimedSerializer(secret_key, salt=salt)
        self._max_age = max_age

    def dumps(self, data: dict[str, t.Any]) -> str:
        return self._serializer.dumps(data)

    def loads(self, token: t.Any) -> dict[str, t.Any] | None:
        """The dict in ``token``, or None when it is forged, expired or not a token."""
        if not isinstance(token, str):
            return None
        try:
            data = self._serializer.loads(token, max_age=self._max_age)
        except BadSignature:
            return None
        return data if isinstance(data, dict) else None


def session_signer(secret_key: str) -> Signer:
    """For ``data-phx-session``: a join trusts what the HTTP render saw."""
    return Signer(secret_key, "live-session", 14 * 24 * 3600)


def flash_signer(secret_key: str) -> Signer:
    """For flash carried across a navigation (a join's ``flash``, or the flash cookie)."""
    return Signer(secret_key, "live-flash", 60)


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


def user_session(cookie_session: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """What ``mount`` receives as ``session``: the cookie session without the CSRF secret."""
    return {key: value for key, value in cookie_session.items() if key != CSRF_KEY}
