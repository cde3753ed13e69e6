"""The durable dispute queue: a Redis Stream read by dispute workers in one consumer group.

The gateway appends one entry per accepted dispute (the id of its flow run, created before).
A worker reads entries with XREADGROUP, keeps each one pending while the run is in its
hands, and acknowledges it (XACK, then XDEL) only after the run has ended. A worker keeps
its pending entries fresh (XCLAIM to itself resets their idle time); an entry idle longer
than the claim timeout belongs to a worker that died, and another one takes it over with
XAUTOCLAIM.

The same run may be in the stream twice (a gateway that crashed after appending, before
recording the run, appends again on the retried request). A per-run lease (SET NX PX,
renewed with the entries) makes sure only one worker runs a run at a time; the one that
finds the lease taken by a live worker acknowledges its duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import redis

from dalrn_core.settings import env_variable, setting

STREAM = "dalrn:disputes"
GROUP = "dispute-workers"
QUEUE_URL_ENV = env_variable("queue_url")
# How a worker marks the run it takes over from a dead one (Crashed, then Pending at once):
# the gateway shows such a run as queued, not failed.
TAKEOVER_MESSAGE = "claimed by worker"

# Renew a lease only while we hold it; release it only if we still hold it.
_RENEW = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def queue_url() -> str | None:
    """The queue's Redis URL (`DALRN_QUEUE_URL`), or None when the embedded path is used."""
    url: str | None = setting("queue_url")
    return url


@dataclass(frozen=True)
class Entry:
    """One accepted dispute in the stream: its entry id and the flow run that resolves it."""

    entry_id: str
    flow_run_id: str
    name: str


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _entry(entry_id: Any, fields: Any) -> Entry | None:
    if fields is None:  # deleted while pending
        return None
    decoded = {_text(k): _text(v) for k, v in dict(fields).items()}
    return Entry(entry_id=_text(entry_id), flow_run_id=decoded.get("run", ""), name=decoded.get("name", ""))


class DisputeQueue:
    """The stream, its consumer group and the per-run leases, over one Redis connection pool."""

    def __init__(self, url: str, *, stream: str = STREAM, group: str = GROUP) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=30, health_check_interval=30)
        self.stream, self.group = stream, group
        self._renew = self.client.register_script(_RENEW)
        self._release = self.client.register_script(_RELEASE)

    def close(self) -> None:
        self.client.close()

    def ensure_group(self) -> None:
        """Create the stream and its consumer group (from the stream's start) if missing."""
        try:
            self.client.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except redis.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    def enqueue(self, flow_run_id: str, name: str) -> str:
        """Append one accepted dispute's run; returns the entry id."""
        return _text(self.client.xadd(self.stream, {"run": flow_run_id, "name": name}))

    def read(self, consumer: str, count: int, block_ms: int) -> list[Entry]:
        """New entries for `consumer` (at most `count`), waiting up to `block_ms` for one."""
        answer: list[Any] = cast(Any, self.client.xreadgroup(self.group, consumer, {self.stream: ">"},
                                                        count=count, block=block_ms) or [])
        return [e for _stream, items in answer for e in (_entry(i, f) for i, f in items) if e is not None]

    def claim_stale(self, consumer: str, min_idle_ms: int, count: int) -> list[Entry]:
        """Entries another consumer left pending longer than `min_idle_ms`, now `consumer`'s."""
        answer: list[Any] = cast(Any, self.client.xautoclaim(self.stream, self.group, consumer, min_idle_ms,
                                                        start_id="0-0", count=count))
        return [e for e in (_entry(i, f) for i, f in answer[1]) if e is not None]

    def keep(self, consumer: str, entry_ids: list[str]) -> None:
        """Reset the idle time of `consumer`'s own pending entries (it is alive and on them)."""
        if entry_ids:
            ids: list[int | bytes | str | memoryview[int]] = list(entry_ids)
            self.client.xclaim(self.stream, self.group, consumer, 0, ids, justid=True)

    def ack(self, entry_id: str) -> None:
        """The run ended: the entry leaves the group's pending list and the stream."""
        with self.client.pipeline(transaction=True) as pipe:
            pipe.xack(self.stream, self.group, entry_id)
            pipe.xdel(self.stream, entry_id)
            pipe.execute()

    def lease(self, flow_run_id: str, consumer: str, ttl_ms: int) -> bool:
        """Take the run's lease for `consumer`; False when a live worker holds it."""
        return bool(self.client.set(self._lease_key(flow_run_id), consumer, nx=True, px=ttl_ms))

    def renew(self, flow_run_id: str, consumer: str, ttl_ms: int) -> bool:
        return bool(self._renew(keys=[self._lease_key(flow_run_id)], args=[consumer, ttl_ms]))

    def release(self, flow_run_id: str, consumer: str) -> None:
        self._release(keys=[self._lease_key(flow_run_id)], args=[consumer])

    def holder(self, flow_run_id: str) -> str | None:
        value = self.client.get(self._lease_key(flow_run_id))
        return None if value is None else _text(value)

    def depth(self) -> dict[str, int]:
        """Entries waiting for a worker (`waiting`) and held by one (`pending`)."""
        pending = self.client.xpending(self.stream, self.group)
        held = int(pending.get("pending") or 0)
        length = int(self.client.xlen(self.stream))
        return {"waiting": max(length - held, 0), "pending": held}

    def pending_of(self) -> dict[str, int]:
        """How many entries each consumer holds."""
        pending = self.client.xpending(self.stream, self.group)
        return {_text(c["name"]): int(c["pending"]) for c in pending.get("consumers") or []}

    def _lease_key(self, flow_run_id: str) -> str:
        return f"{self.stream}:lease:{flow_run_id}"
