"""What the browser reads from the HTTP render before it joins: container, tokens, title."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urljoin

from selectolax.lexbor import LexborHTMLParser

from .dom import attr, normalize


@dataclass(frozen=True)
class Page:
    """A LiveView page's HTTP render, as the official client reads it to join."""

    container_id: str
    session: str
    static: str | None
    csrf_token: str | None
    track_static: list[str]
    title: str | None
    title_attrs: dict[str, str | None]  # the <title>'s data-prefix, data-suffix, data-default


def read_page(html: str, url: str) -> Page | None:
    """The page at ``url``, or ``None`` when it has no LiveView container."""
    page = LexborHTMLParser(html)
    container = page.css_first("[data-phx-main]") or next(
        (
            node
            for node in page.css("[data-phx-session]")
            if attr(node, "data-phx-parent-id") is None
        ),
        None,
    )
    if container is None or not attr(container, "id"):
        return None
    meta = page.css_first("meta[name='csrf-token']")
    tracked = page.css("[phx-track-static]")
    title = page.css_first("title")
    return Page(
        container_id=attr(container, "id") or "",
        session=attr(container, "data-phx-session") or "",
        static=attr(container, "data-phx-static") or None,
        csrf_token=attr(meta, "content") if meta is not None else None,
        track_static=[
            urljoin(url, attr(node, "src") or attr(node, "href") or "") for node in tracked
        ],
        title=normalize(title.text(deep=True)) if title is not None else None,
        title_attrs=(
            {key: attr(title, f"data-{key}") for key in ("prefix", "suffix", "default")}
            if title is not None
            else {}
        ),
    )
