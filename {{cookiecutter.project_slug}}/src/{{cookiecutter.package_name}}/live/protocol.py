"""Phoenix channel frames: strict JSON in, strict JSON out.

A frame is ``[join_ref, ref, topic, event, payload]`` (PROTOCOL.md, "Transport").
Everything a client sends is parsed here and nothing else: a frame that is not
JSON a browser could have produced (``NaN``, lone surrogates, absurd nesting)
is refused before any handler sees it. Everything the server sends is encoded
here too, so no frame can carry JSON a browser cannot parse.
"""

from __future__ import annotations

import json
import re
import typing as t
from dataclasses import dataclass

PHX_REPLY = "phx_reply"
_BINARY_PUSH = 0  # the kind byte of a binary frame the client pushes
_BINARY_HEADER = 5  # kind, then the sizes of join_ref, ref, topic and event
_FRAME_BYTES = 512  # the message, its frame list and their strings' headers
_CONTAINER_BYTES = 80  # a parsed empty dict or list, with its reference
_STRING_BYTES = 32  # half a parsed short string: each string has two quotes
_ITEM_BYTES = 40  # a number object and its reference, or a dict entry: one per "," or ":"
# A JSON escape of a UTF-16 surrogate: valid pairs decode to one character,
# lone halves decode to strings that cannot be encoded as UTF-8 again.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


class ProtocolError(ValueError):
    """A frame the server refuses to read; the socket is closed with ``code``."""

    def __init__(self, message: str, code: int = 1007) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True, slots=True)
class Message:
    """One frame from the client."""

    join_ref: str | None
    ref: str | None
    topic: str
    event: str
    payload: t.Any  # parsed JSON; the raw bytes of a binary push
    size: int  # what the parsed frame costs in memory, about: see ``parsed_size``


class Reply(Exception):
    """Stop handling a message and answer it with ``status`` and ``response``."""

    def __init__(self, status: t.Literal["ok", "error"], response: dict[str, t.Any]) -> None:
        super().__init__(status, response)
        self.status = status
        self.response = response


def error(reason: str, **extra: t.Any) -> Reply:
    """An error reply with a machine-readable ``reason``."""
    return Reply("error", {"reason": reason, **extra})


def parse_frame(text: str) -> Message:
    """Decode one text frame, or raise ``ProtocolError``."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
        # Checking re-encodes the data: a depth just under the limit for loading may exceed it.
        lone_surrogate = bool(_SURROGATE_ESCAPE.search(text)) and not _encodable(data)
    except RecursionError as exc:
        raise ProtocolError("frame is nested too deeply") from exc
    except ValueError as exc:
        raise ProtocolError("frame is not JSON") from exc
    if lone_surrogate:
        raise ProtocolError("frame has a lone UTF-16 surrogate")
    if not isinstance(data, list) or len(data) != 5:
        raise ProtocolError("frame is not [join_ref, ref, topic, event, payload]")
    join_ref, ref, topic, event, payload = data
    if not (join_ref is None or isinstance(join_ref, str)) or not (
        ref is None or isinstance(ref, str)
    ):
        raise ProtocolError("join_ref and ref must be strings or null")
    if not isinstance(topic, str) or not isinstance(event, str):
        raise ProtocolError("topic and event must be strings")
    return Message(join_ref, ref, topic, event, payload, parsed_size(text))


def parse_binary_frame(data: bytes) -> Message:
    """Decode one binary push (an upload's chunk), or raise ``ProtocolError``.

    Phoenix's binary push: kind ``0``, the sizes of join_ref, ref, topic and
    event (a byte each), those four as UTF-8, then the payload's raw bytes.
    """
    if len(data) < _BINARY_HEADER or data[0] != _BINARY_PUSH:
        raise ProtocolError("a binary frame that is not a push", 1003)
    offset, fields = _BINARY_HEADER, []
    for size in data[1:_BINARY_HEADER]:
        try:
            fields.append(data[offset : offset + size].decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ProtocolError("a binary frame's header is not UTF-8", 1003) from exc
        offset += size
    if offset > len(data):
        raise ProtocolError("a binary frame shorter than its header says", 1003)
    join_ref, ref, topic, event = fields
    payload = data[offset:]
    return Message(join_ref or None, ref or None, topic, event, payload, _FRAME_BYTES + len(data))


def parsed_size(text: str) -> int:
    """Bytes the parsed frame may take, at most about: for the socket's input budget.

    Parsed JSON is bigger than its text: ``{}`` is two characters but a
    64-byte dict, a short string costs a 50-byte object, ``1.5`` a 24-byte
    float. Counting brackets, quotes and separators bounds that
    (``tests/test_transport.py`` measures it).
    """
    containers = text.count("{") + text.count("[")
    characters = len(text) if text.isascii() else 4 * len(text)  # up to 4 bytes each
    return (
        _FRAME_BYTES
        + characters
        + _CONTAINER_BYTES * containers
        + _STRING_BYTES * text.count('"')
        + _ITEM_BYTES * (text.count(",") + text.count(":"))
    )


def encode_frame(
    join_ref: str | None, ref: str | None, topic: str, event: str, payload: t.Any
) -> str:
    """One frame as JSON any browser parses; ``ValueError`` when that is impossible.

    ``NaN``, ``Infinity``, objects JSON does not know, and strings with lone
    surrogates are refused rather than sent.
    """
    return encode_json([join_ref, ref, topic, event, payload])


def encode_json(value: t.Any) -> str:
    """``value`` as the compact, strict JSON frames carry (see ``encode_frame``)."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, RecursionError) as exc:
        raise ValueError(f"frame cannot be encoded as JSON: {exc}") from exc
    if not text.isascii():
        text.encode("utf-8")  # raises UnicodeEncodeError (a ValueError) on a lone surrogate
    return text


def frame_head(join_ref: str | None, ref: str | None, topic: str, event: str) -> str:
    """The frame ``encode_frame`` makes, up to its payload: followed by a payload encoded by
    ``encode_json`` and ``]``, it is that frame.

    One payload encoded once can so go to many clients, each frame its own refs and topic,
    and a view that pushes many diffs makes the head of theirs once.
    """
    return encode_json([join_ref, ref, topic, event])[:-1] + ","


def reply_frame(message: Message, status: str, response: dict[str, t.Any]) -> str:
    """The ``phx_reply`` to ``message``, echoing its refs and topic."""
    return encode_frame(
        message.join_ref,
        message.ref,
        message.topic,
        PHX_REPLY,
        {"status": status, "response": response},
    )


def _refuse_constant(name: str) -> t.NoReturn:
    raise ValueError(f"{name} is not JSON")


def _encodable(data: t.Any) -> bool:
    try:
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
