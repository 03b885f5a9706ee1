"""Counter drift: compare each post's ``like_count`` with its like rows, and fix it.

The hot path moves the counter in the same statement as the row, so drift should never
happen; this is the check that proves it (and the repair if a manual edit, a restore or a
bug ever breaks it). Run by ``manage.py recount_likes``, by a periodic beat job, and on
demand from the admin through ``likes.tasks.recount_likes`` (whose result someone reads).

Fixing is exact under concurrent likes: the drifted posts' rows are locked first, then
counted by a new statement. A like that committed before the lock is counted; one still in
flight has inserted its row (invisible to us, uncommitted) and waits on the lock to add its
+1 afterwards, so it is neither lost nor counted twice. A fixed count is a change of the
post's likes: its ``likes_version`` grows with it, so open pages take the repaired count.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db import connection, transaction

_DRIFTED_SQL = """
SELECT p.id, p.like_count, COALESCE(l.n, 0)
FROM social_post p
LEFT JOIN (SELECT post_id, count(*) AS n FROM likes_like GROUP BY post_id) l ON l.post_id = p.id
WHERE p.like_count <> COALESCE(l.n, 0)
ORDER BY p.id
LIMIT %s
"""

_FIX_SQL = """
UPDATE social_post p
SET like_count = (SELECT count(*) FROM likes_like l WHERE l.post_id = p.id),
    likes_version = p.likes_version + 1
WHERE p.id = ANY(%s)
RETURNING p.id, p.like_count
"""


@dataclass
class RecountReport:
    checked_posts: int
    drifted: list[tuple[int, int, int]] = field(default_factory=list)  # (post, was, truth)
    fixed: bool = False

    def as_dict(self) -> dict[str, object]:
        return {
            "checked_posts": self.checked_posts,
            "drifted": [
                {"post_id": p, "like_count": was, "likes": n} for p, was, n in self.drifted
            ],
            "fixed": self.fixed,
        }


def like_counts_recount(*, fix: bool, limit: int = 10_000) -> RecountReport:
    """Report posts whose ``like_count`` differs from their like rows; fix them if asked."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM social_post")
        (checked,) = cursor.fetchone()
        cursor.execute(_DRIFTED_SQL, [limit])
        drifted = [(int(p), int(was), int(n)) for p, was, n in cursor.fetchall()]
    report = RecountReport(checked_posts=int(checked), drifted=drifted)
    if fix and drifted:
        ids = [p for p, _, _ in drifted]
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("SELECT id FROM social_post WHERE id = ANY(%s) FOR UPDATE", [ids])
            cursor.execute(_FIX_SQL, [ids])
        report.fixed = True
    return report
