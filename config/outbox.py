"""A table that is its own outbox: a row whose ``fanned_out_at`` is NULL is owed a fan-out.

Likes and posts both work this way (``likes.outbox``, ``social.outbox``), each instantiating
``Outbox`` for its model: the fan-out marks rows done once every follower's feed holds them
(``mark_done``), and the sweeper (``feed.tasks.sweep_owed_fanouts``) re-queues rows owed for
longer than a bound (``owed``): a task lost to a broker outage or a crashed worker. The
model has ``created_at`` and a nullable ``fanned_out_at``, with a partial index on
``created_at`` where ``fanned_out_at IS NULL``, so both reads stay small however large the
table grows.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import F, Model
from django.utils import timezone


class Outbox:
    """The owed rows of one model (see the module's docstring)."""

    def __init__(self, model: type[Model]) -> None:
        self.model = model

    def mark_done(self, ids: Collection[int]) -> set[int]:
        """Mark these rows' fan-out complete, in one statement: the ids marked by this call
        (a concurrent run over the same rows gets the others, so each is reported once)."""
        table = connection.ops.quote_name(self.model._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET fanned_out_at = now() "
                "WHERE id = ANY(%s) AND fanned_out_at IS NULL RETURNING id",
                [list(ids)],
            )
            return {row[0] for row in cursor.fetchall()}

    def owed(self, *, older_than: timedelta, limit: int = 1000) -> list[int]:
        """Ids of rows owed a fan-out for longer than ``older_than``, oldest first."""
        cutoff = timezone.now() - older_than
        rows = self._owed().filter(created_at__lt=cutoff).order_by(F("created_at"))
        return list(rows.values_list("pk", flat=True)[:limit])

    def owed_summary(self, *, cap: int = 10_000) -> tuple[datetime | None, int]:
        """When the oldest row still owed was made (None: nothing owed) and how many are
        owed, counted up to ``cap`` (both read off the partial index of owed rows)."""
        owed = self._owed()
        oldest = owed.order_by("created_at").values_list("created_at", flat=True).first()
        if oldest is None:
            return None, 0
        return oldest, owed.values("pk")[:cap].count()

    def _owed(self) -> Any:
        return self.model._default_manager.filter(fanned_out_at__isnull=True)
