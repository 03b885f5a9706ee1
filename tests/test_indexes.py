"""No index of the project's tables is a leading part of another: such an index serves no
lookup the longer one does not, and costs a write on every insert (each like, each follow).
Django adds one per foreign key unless told not to (``db_index=False``); the likes and
follows had four (likes_like.user_id and .post_id, social_follow.follower_id and
.followee_id), which also steered the planner off the composite indexes
(tests/likes/test_contexts_query.py)."""

from __future__ import annotations

from django.db import connection

PROJECT_APPS = ("social_", "likes_", "feed_", "notifications_")

# Each index: its table, name, key columns in order with their operator classes (Django's
# ``_like`` indexes for LIKE use another class, so they serve other queries), whether it is
# plain (not unique, not partial, no expressions: only such an index can be redundant) and
# whether it is full (not partial, no expressions: only such an index can cover another).
INDEXES = """
SELECT t.relname, i.relname, array_agg(a.attname || ' ' || o.opcname ORDER BY k.ord),
       NOT x.indisunique AND x.indpred IS NULL AND x.indexprs IS NULL,
       x.indpred IS NULL AND x.indexprs IS NULL
FROM pg_index x
JOIN pg_class i ON i.oid = x.indexrelid
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_namespace n ON n.oid = t.relnamespace AND n.nspname = current_schema()
CROSS JOIN LATERAL unnest(x.indkey::int2[], x.indclass::oid[])
    WITH ORDINALITY AS k(attnum, opclass, ord)
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = k.attnum
JOIN pg_opclass o ON o.oid = k.opclass
GROUP BY t.relname, i.relname, x.indisunique, x.indpred, x.indexprs
"""
# The many-to-many tables of Django's auth (a user's groups and permissions) stay as Django
# makes them: written when an admin edits a staff account, never on the product's paths.
DJANGO_AUTH_TABLES = ("social_user_groups", "social_user_user_permissions")


def test_no_plain_index_is_the_leading_part_of_another(db: None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(INDEXES)
        indexes = [
            row
            for row in cursor.fetchall()
            if row[0].startswith(PROJECT_APPS) and row[0] not in DJANGO_AUTH_TABLES
        ]
    assert any(name == "like_unique_user_post" for _, name, *_ in indexes)  # it reads them
    redundant = [
        f"{table}.{name} {columns} (covered by {other} {longer})"
        for table, name, columns, plain, _ in indexes
        if plain
        for other_table, other, longer, _, full in indexes
        if other_table == table and other != name and full and longer[: len(columns)] == columns
    ]
    assert not redundant, redundant
