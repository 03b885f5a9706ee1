"""Celery tasks of the likes app."""

from __future__ import annotations

from celery import shared_task

from . import counters


# The one task whose result is read (the admin's "recount" button waits for the report),
# so it stores its result in the backend; every fire-and-forget task ignores its own.
@shared_task(ignore_result=False)
def recount_likes(fix: bool = True) -> dict[str, object]:
    return counters.like_counts_recount(fix=fix).as_dict()
