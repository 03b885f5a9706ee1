"""One picture of the pipeline, for the ops page (as JSON) and for ``/metrics``.

Taking it costs a broadcast to the workers (half a second of waiting for answers), a
broker connection and three small queries, so it is taken at most once per
``MAX_AGE_S`` in a process however many pages and scrapers ask. Rates (likes/s, feed
entries/s) are differences of running totals over the last ``RATE_WINDOW_S``, from the
snapshots this process took; the first snapshot of a process has none yet.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

from django.utils import timezone

from likes import selectors as likes_selectors
from likes.outbox import likes_outbox

from . import counters, selectors, sockets

MAX_AGE_S = 1.0
RATE_WINDOW_S = 10.0


@dataclass(frozen=True, slots=True)
class QueueState:
    depth: int  # messages waiting
    workers: list[str]  # workers consuming it that answered


@dataclass(frozen=True, slots=True)
class Snapshot:
    taken_at: str
    broker: str
    queues: dict[str, QueueState]
    workers_alive: int
    fanout_lag_s: float  # age of the oldest like still owed a fan-out; 0 when none is owed
    fanout_owed: int  # likes owed a fan-out (counted up to 10,000)
    likes_total: int  # like rows inserted, PostgreSQL's count
    fanout_entries_total: int  # feed entries written by fan-outs
    likes_per_s: float | None  # None until two snapshots RATE_WINDOW_S apart at most
    fanout_entries_per_s: float | None
    open_sockets: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class _Sample:
    at: float  # monotonic seconds
    likes: int
    entries: int


_lock = threading.Lock()
_samples: deque[_Sample] = deque(maxlen=64)
_last: tuple[float, Snapshot] | None = None


def snapshot_get() -> Snapshot:
    """The current snapshot (at most ``MAX_AGE_S`` old). Blocking: run it off the event
    loop and off Django's shared sync thread (``asyncio.to_thread``)."""
    global _last
    with _lock:
        now = time.monotonic()
        if _last is None or now - _last[0] > MAX_AGE_S:
            _last = (now, _take(now))
        return _last[1]


def _rate(now: _Sample, value: str) -> float | None:
    base = next((s for s in _samples if now.at - s.at <= RATE_WINDOW_S), None)
    if base is None or now.at - base.at < 0.5:
        return None
    delta = getattr(now, value) - getattr(base, value)
    return round(delta / (now.at - base.at), 2) if delta >= 0 else None  # < 0: stats reset


def _take(now: float) -> Snapshot:
    names = selectors.queue_names()
    depths = selectors.queue_depths(names)
    consumers = selectors.workers_by_queue()
    oldest_owed, owed = likes_outbox.owed_summary()
    sample = _Sample(
        at=now,
        likes=likes_selectors.likes_stored_total(),
        entries=counters.totals(counters.FANOUT_ENTRIES)[counters.FANOUT_ENTRIES],
    )
    likes_rate, entries_rate = _rate(sample, "likes"), _rate(sample, "entries")
    _samples.append(sample)
    lag = (timezone.now() - oldest_owed).total_seconds() if oldest_owed else 0.0
    return Snapshot(
        taken_at=timezone.now().isoformat(),
        broker=selectors.broker_kind(),
        queues={q: QueueState(depths[q], consumers.get(q, [])) for q in names},
        workers_alive=len({w for ws in consumers.values() for w in ws}),
        fanout_lag_s=round(max(lag, 0.0), 3),
        fanout_owed=owed,
        likes_total=sample.likes,
        fanout_entries_total=sample.entries,
        likes_per_s=likes_rate,
        fanout_entries_per_s=entries_rate,
        open_sockets=sockets.open_sockets(),
    )
