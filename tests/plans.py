"""Reading PostgreSQL's plans in tests: what a statement read, from EXPLAIN ANALYZE's counts
(rows, not time: a test asserts what the plan does, never how long it took)."""

from __future__ import annotations

from typing import Any

from django.db import connection

SCANS = {"Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Heap Scan"}


def explain(sql: str, params: Any = None) -> dict[str, Any]:
    """The executed plan of a statement (``EXPLAIN (ANALYZE, FORMAT JSON)``): its top node."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, params)
        (plan,) = cursor.fetchone()[0]
    node: dict[str, Any] = plan["Plan"]
    return node


def rows_read(node: dict[str, Any], table: str) -> int:
    """Rows the plan's scans of ``table`` produced or threw away, every loop counted."""
    read = 0
    if node["Node Type"] in SCANS and node.get("Relation Name") == table:
        per_loop = node["Actual Rows"] + node.get("Rows Removed by Filter", 0)
        per_loop += node.get("Rows Removed by Index Recheck", 0)
        read += per_loop * node.get("Actual Loops", 1)
    for child in node.get("Plans", []):
        read += rows_read(child, table)
    return read
