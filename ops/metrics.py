"""``/metrics`` in Prometheus' text format, with the official client (``prometheus_client``).

The pipeline's figures come from ``ops.snapshot`` at scrape time (a custom collector, as
the client's docs describe for values that live in another system): they are shared state
(broker, PostgreSQL, Redis), so any web process answers for all of them and no
multi-process setup is needed. The client's process collectors (CPU, memory, open files,
GC) describe the web process that answered.

Request latency histograms (django-prometheus' middleware) are left out on purpose: a
``MiddlewareMixin`` middleware under ASGI costs thread hops on every request of the hot
path; ``make bench`` measures the like endpoint instead.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import GC_COLLECTOR, PLATFORM_COLLECTOR, PROCESS_COLLECTOR
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from .snapshot import Snapshot, snapshot_get

# name: (kind, help). Counters are named without "_total": the client appends it.
_SCALARS = {
    "likefeed_workers_alive": (GaugeMetricFamily, "Celery workers that answered a ping."),
    "likefeed_fanout_lag_seconds": (
        GaugeMetricFamily,
        "Age of the oldest like still owed a fan-out (0 when none is owed).",
    ),
    "likefeed_fanout_owed": (GaugeMetricFamily, "Likes owed a fan-out (counted up to 10,000)."),
    "likefeed_likes_stored": (CounterMetricFamily, "Like rows inserted (PostgreSQL statistics)."),
    "likefeed_fanout_entries": (CounterMetricFamily, "Feed entries written by fan-outs."),
    "likefeed_open_sockets": (GaugeMetricFamily, "Open WebSockets across web processes."),
}
_PER_QUEUE = {
    "likefeed_queue_depth": "Messages waiting in a Celery queue.",
    "likefeed_queue_workers": "Workers consuming a Celery queue.",
}


def _scalar_values(snap: Snapshot) -> dict[str, float]:
    return {
        "likefeed_workers_alive": snap.workers_alive,
        "likefeed_fanout_lag_seconds": snap.fanout_lag_s,
        "likefeed_fanout_owed": snap.fanout_owed,
        "likefeed_likes_stored": snap.likes_total,
        "likefeed_fanout_entries": snap.fanout_entries_total,
        "likefeed_open_sockets": snap.open_sockets,
    }


class PipelineCollector(Collector):
    def describe(self) -> Iterator[Metric]:
        # Names only: without this the registry would take a snapshot to learn them.
        for name, (kind, doc) in _SCALARS.items():
            yield kind(name, doc)
        for name, doc in _PER_QUEUE.items():
            yield GaugeMetricFamily(name, doc, labels=["queue"])

    def collect(self) -> Iterator[Metric]:
        snap = snapshot_get()
        for name, value in _scalar_values(snap).items():
            kind, doc = _SCALARS[name]
            yield kind(name, doc, value=value)
        depth, workers = (
            GaugeMetricFamily(name, doc, labels=["queue"]) for name, doc in _PER_QUEUE.items()
        )
        for queue, state in snap.queues.items():
            depth.add_metric([queue], state.depth)
            workers.add_metric([queue], len(state.workers))
        yield depth
        yield workers


# A registry of our own rather than the client's global one: Django's system checks import
# the URLconf (so this module) in every process, Celery workers and Flower included, and
# Flower serves the global registry from its event loop, where a snapshot may not run.
registry = CollectorRegistry()
for collector in (PipelineCollector(), PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    registry.register(collector)
