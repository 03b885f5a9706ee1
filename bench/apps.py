"""The bench app (``bench.settings`` only): the switch that lets the push knee run the
textbook live push in the stack's own workers (``bench.textbook``)."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class BenchConfig(AppConfig):
    name = "bench"

    def ready(self) -> None:
        from bench import textbook
        from feed import live

        batched = live.feed_items_publish

        def feed_items_publish(batches: Any) -> None:
            if textbook.textbook_push_on():
                textbook.textbook_feed_items_publish(batches)
            else:
                batched(batches)

        setattr(live, "feed_items_publish", feed_items_publish)  # noqa: B010 (mypy: a function)
