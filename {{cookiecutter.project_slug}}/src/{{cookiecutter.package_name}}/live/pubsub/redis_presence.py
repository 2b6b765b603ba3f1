"""Presences in Redis: every process sees them, and those of a process that died leave.

Keys, after the pub/sub's prefix and ``presence:``:

- ``topic:<topic>``, a hash ref → entry: what ``Presence.list`` reads;
- ``refs:<node>``, a hash ref → topic: what one process put there;
- ``alive:<node>``, which expires ``ttl`` seconds after that process's last heartbeat;
- ``nodes``, the set of processes that may have entries.

Every ``heartbeat`` seconds, each process renews its ``alive`` key and sweeps
the others: one Lua script, atomic, removes the entries of every process
whose key expired and returns them to the one sweeper that announces their
leaves. A process killed without a word (SIGKILL, power loss) thus leaves
within ``ttl + heartbeat`` seconds of its last heartbeat: 13 s by default.

A process whose key is gone at its heartbeat (Redis restarted, or the process
stalled past ``ttl`` and was swept), or whose write failed, then makes Redis
hold exactly what it tracks, and announces the joins and leaves that took.
A write that fails because Redis is away is held so: ``put`` and ``delete``
raise ``PubSubError``, and the first heartbeat that reaches Redis makes them.
Until that heartbeat, ``put``, ``delete`` and ``entries`` fail at once
instead of waiting on Redis again: a partition costs a page one timeout
(``RedisPubSub``'s), not one per call.
"""

from __future__ import annotations

import asyncio
import logging

from ..logs import clip
from . import Announce, PresenceStore, PubSubError
from .redis import RedisPubSub, end

logger = logging.getLogger(__name__)

# KEYS: topic hash, node's refs, nodes; ARGV: ref, entry, topic, node, ref replaced ('' if none).
PUT = """
local replaced = 0
if ARGV[5] ~= '' then
  replaced = redis.call('HDEL', KEYS[1], ARGV[5])
  redis.call('HDEL', KEYS[2], ARGV[5])
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
redis.call('SADD', KEYS[3], ARGV[4])
return replaced
"""

# KEYS: topic hash, node's refs; ARGV: ref. Returns the entry removed, or nil.
DELETE = """
local entry = redis.call('HGET', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return entry
"""

# KEYS: nodes; ARGV: key prefix. Returns topic, entry, topic, entry… of the nodes it removed.
SWEEP = """
local removed = {}
for _, node in ipairs(redis.call('SMEMBERS', KEYS[1])) do
  if redis.call('EXISTS', ARGV[1] .. 'alive:' .. node) == 0 then
    local refs_key = ARGV[1] .. 'refs:' .. node
    local refs = redis.call('HGETALL', refs_key)
    for i = 1, #refs, 2 do
      local topic_key = ARGV[1] .. 'topic:' .. refs[i + 1]
      local entry = redis.call('HGET', topic_key, refs[i])
      if entry then
        redis.call('HDEL', topic_key, refs[i])
        removed[#removed + 1] = refs[i + 1]
        removed[#removed + 1] = entry
      end
    end
    redis.call('DEL', refs_key)
    redis.call('SREM', KEYS[1], node)
  end
end
return removed
"""


class RedisPresenceStore(PresenceStore):
    """The presences of every process on one Redis, this process's kept alive by a heartbeat."""

    def __init__(self, pubsub: RedisPubSub, heartbeat: float, ttl: float) -> None:
        self._pubsub = pubsub
        self._heartbeat = heartbeat
        self._ttl_ms = max(1, round(ttl * 1000))
        self._prefix = f"{pubsub.prefix}presence:"
        self._node = pubsub.node
        self._alive = f"{self._prefix}alive:{self._node}"
        self._refs = f"{self._prefix}refs:{self._node}"
        self._nodes = f"{self._prefix}nodes"
        client = pubsub.client
        self._put, self._delete = client.register_script(PUT), client.register_script(DELETE)
        self._sweep = client.register_script(SWEEP)
        self._mine: dict[str, tuple[str, str]] = {}  # ref → (topic, entry): what this process has
        self._lock = asyncio.Lock()  # one change of this process's entries at a time
        self._dirty = False  # a write failed: Redis may not hold exactly ``_mine``
        self._away = False  # a call Redis did not answer, and no heartbeat since: fail at once
        self._announce: Announce | None = None
        self._beating: asyncio.Task[None] | None = None

    async def start(self, announce: Announce) -> None:
        """Register this process (``PubSubError`` if Redis does not answer) and start beating."""
        self._announce = announce
        await self._beat()
        self._beating = asyncio.create_task(self._beat_forever())

    async def stop(self) -> None:
        beating, self._beating = self._beating, None
        if beating is not None:
            await end(beating)
        client = self._pubsub.client
        try:  # this process is dead from now: sweep its own entries
            await self._pubsub.command("presence stop", lambda: client.delete(self._alive))
            await self._sweep_dead()
        except PubSubError:
            pass  # logged; the other processes sweep them within the bound
        self._mine.clear()

    async def put(self, topic: str, ref: str, entry: str, replaces: str | None = None) -> bool:
        async with self._lock:
            if self._away:
                self._keep(topic, ref, entry, replaces)
                raise _held(topic)
            try:
                replaced = await self._write(topic, ref, entry, replaces or "")
            except PubSubError:  # held: the heartbeat writes it once Redis is back
                self._dirty = self._away = True
                self._keep(topic, ref, entry, replaces)
                raise
            except BaseException:  # a cancellation: it may have landed
                self._dirty = True
                raise
            self._keep(topic, ref, entry, replaces)
            return replaced

    def _keep(self, topic: str, ref: str, entry: str, replaces: str | None) -> None:
        if replaces is not None:
            self._mine.pop(replaces, None)
        self._mine[ref] = (topic, entry)

    async def delete(self, topic: str, ref: str) -> bool:
        async with self._lock:
            self._mine.pop(ref, None)  # gone from this process, whatever Redis answers
            if self._away:
                raise _held(topic)
            try:
                return await self._remove(topic, ref) is not None
            except PubSubError:  # the heartbeat removes it, and announces the leave
                self._dirty = self._away = True
                raise
            except BaseException:  # a cancellation: as above, but Redis may be fine
                self._dirty = True
                raise

    async def entries(self, topic: str) -> list[str]:
        if self._away:
            raise _held(topic)
        try:
            found = await self._pubsub.command(
                f"presence list of {clip(topic)}",
                lambda: self._pubsub.client.hvals(self._prefix + "topic:" + topic),
            )
        except PubSubError:
            # Until a heartbeat answers; which then checks Redis holds what this process has.
            self._dirty = self._away = True
            raise
        return [_text(entry) for entry in found]

    async def _write(self, topic: str, ref: str, entry: str, replaces: str) -> bool:
        keys = [self._prefix + "topic:" + topic, self._refs, self._nodes]
        replaced = await self._pubsub.command(
            f"presence on {clip(topic)}",
            lambda: self._put(keys, [ref, entry, topic, self._node, replaces]),
        )
        return bool(replaced)

    async def _remove(self, topic: str, ref: str) -> str | None:
        """Remove ``ref``'s entry; it, or None if it was already gone."""
        keys = [self._prefix + "topic:" + topic, self._refs]
        removed = await self._pubsub.command(
            f"presence leave of {clip(topic)}", lambda: self._delete(keys, [ref])
        )
        return None if removed is None else _text(removed)

    async def _beat_forever(self) -> None:
        failing = False
        while True:
            await asyncio.sleep(self._heartbeat)
            try:
                await self._beat()
            except PubSubError as exc:
                if not failing:
                    logger.error("presence heartbeat failed: %s", exc)
                    failing = True
                continue
            except Exception:  # a bug must not stop the heartbeat: this process would be swept
                logger.exception("presence heartbeat failed")
                continue
            if failing:
                logger.warning("presence heartbeat is back")
                failing = False

    async def _beat(self) -> None:
        """Renew this process's key; bring Redis back in line if needed; sweep the dead."""
        client = self._pubsub.client
        had_key = await self._pubsub.command(
            "presence heartbeat",
            lambda: client.set(self._alive, b"1", px=self._ttl_ms, get=True),
            log=False,
        )
        self._away = False
        if had_key is None or self._dirty:
            await self._resync()
        await self._sweep_dead()

    async def _resync(self) -> None:
        """Make Redis hold exactly this process's entries, and announce what that changed."""
        async with self._lock:
            self._dirty = True  # until this has finished
            held = await self._pubsub.command(
                "presence resync", lambda: self._pubsub.client.hgetall(self._refs), log=False
            )
            joined: list[tuple[str, str]] = []
            left: list[tuple[str, str]] = []
            for raw_ref, raw_topic in held.items():
                ref, topic = _text(raw_ref), _text(raw_topic)
                if ref not in self._mine and (entry := await self._remove(topic, ref)):
                    left.append((topic, entry))
            for ref, (topic, entry) in list(self._mine.items()):
                if ref.encode() not in held:
                    await self._write(topic, ref, entry, "")
                    joined.append((topic, entry))
            self._dirty = False
        await self._tell(joined, left)

    async def _sweep_dead(self) -> None:
        removed = await self._pubsub.command(
            "presence sweep", lambda: self._sweep([self._nodes], [self._prefix]), log=False
        )
        pairs = [(_text(removed[i]), _text(removed[i + 1])) for i in range(0, len(removed), 2)]
        await self._tell([], pairs)

    async def _tell(self, joined: list[tuple[str, str]], left: list[tuple[str, str]]) -> None:
        """Announce entries, grouped by topic; a failed announcement is logged and skipped."""
        if self._announce is None:
            return
        topics = dict.fromkeys(topic for topic, _ in joined + left)
        for topic in topics:
            try:
                await self._announce(
                    topic,
                    [entry for where, entry in joined if where == topic],
                    [entry for where, entry in left if where == topic],
                )
            except PubSubError:
                pass  # logged by the broadcast


def _held(topic: str) -> PubSubError:
    """Redis did not answer the last call, and no heartbeat has reached it since."""
    return PubSubError(f"presence on {clip(topic)}: Redis is away (held until it answers)")


def _text(value: bytes | str) -> str:
    """A Redis reply as text (this client's replies are bytes; redis-py types allow both)."""
    return value.decode() if isinstance(value, bytes) else value
