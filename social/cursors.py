"""Keyset cursors for lists read newest first by (time, id): a user's posts, a post's likers.

A cursor names the last row of a page: its time in microseconds since the epoch and its id,
``<µs>|<id>`` in URL-safe base64. The next page is the rows strictly older in (time, id)
order, so rows written meanwhile neither repeat nor shift a page (no OFFSET). Decoding is
strict, as the feed's (``feed.store.decode_cursor``): anything this code did not write is
a 400, never a query with a strange value.
"""

from __future__ import annotations

import base64
import binascii
import re
from datetime import UTC, datetime, timedelta

from django.db.models import Q

from config.exceptions import Invalid

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"([0-9]{1,17})\|([0-9]{1,18})")


def encode(moment: datetime, row_id: int) -> str:
    micros = (moment - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(f"{micros}|{row_id}".encode()).decode().rstrip("=")


def decode(cursor: str) -> tuple[datetime, int]:
    """(time, id) of a cursor ``encode`` wrote; ``Invalid`` (a 400) for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    match = _CURSOR.fullmatch(raw)
    if match is None:
        raise Invalid("before: not a cursor this list gave out")
    try:
        moment = _EPOCH + timedelta(microseconds=int(match[1]))
    except OverflowError:
        raise Invalid("before: not a cursor this list gave out") from None
    return moment, int(match[2])


def older_than(cursor: str | None, *, time_field: str) -> Q:
    """The rows strictly after the cursor's in newest-first (time, id) order (all rows for
    no cursor)."""
    if cursor is None:
        return Q()
    moment, row_id = decode(cursor)
    return Q(**{f"{time_field}__lt": moment}) | Q(**{time_field: moment, "pk__lt": row_id})
