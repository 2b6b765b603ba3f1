"""Reading the view's HTML as a test does: attributes, visible text, selectors."""

from __future__ import annotations

import re

from selectolax.lexbor import LexborNode

Text = str | re.Pattern[str] | None


def attr(node: LexborNode, name: str) -> str | None:
    """An attribute's value; a present attribute without a value is ``""``."""
    attributes = node.attributes
    if name not in attributes:
        return None
    return attributes[name] or ""


def normalize(text: str) -> str:
    """Whitespace collapsed, as a user reads the text."""
    return " ".join(text.split())


def text_matches(node: LexborNode, text: Text) -> bool:
    """Whether the node's text contains ``text`` (or matches it, a pattern); ``None`` always."""
    if text is None:
        return True
    content = normalize(node.text(deep=True))
    return bool(text.search(content)) if isinstance(text, re.Pattern) else text in content


def describe(selector: str, text: Text) -> str:
    """``selector`` and ``text`` as a failure message names them."""
    if text is None:
        return repr(selector)
    shown = text.pattern if isinstance(text, re.Pattern) else text
    return f"{selector!r} with text {shown!r}"


def split_selector(selector: str) -> list[str]:
    """The compound selectors of ``selector`` with their combinators, for "nearest" hints."""
    parts, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(selector):
        if quote:
            quote = "" if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char in "[(":
            depth += 1
        elif char in "])":
            depth -= 1
        elif depth == 0 and char in " >+~" and i > start:
            parts.append(selector[start:i])
            start = i
    parts.append(selector[start:])
    return [part for part in parts if part.strip(" >+~")]
