"""Follower counts kept by PostgreSQL (migration social 0007), and "who to follow" read from
them without counting every follow (issue 15)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from social import selectors, services
from social.models import Follow, User
from tests.plans import explain, rows_read

pytestmark = pytest.mark.django_db


def counted(user: User) -> tuple[int, int]:
    """(followers, following) as the follows table says."""
    return (
        Follow.objects.filter(followee=user).count(),
        Follow.objects.filter(follower=user).count(),
    )


def kept(user: User) -> tuple[int, int]:
    user.refresh_from_db(fields=["followers_count", "following_count"])
    return user.followers_count, user.following_count


def test_counts_follow_every_way_follows_are_written_and_removed():
    a, b, c, d = (User.objects.create(username=f"count{i}", password="!") for i in range(4))
    assert services.follow_create(follower=a, followee=b)
    assert not services.follow_create(follower=a, followee=b)  # already: nothing moves
    services.follow_create(follower=b, followee=a)
    Follow.objects.bulk_create([Follow(follower=c, followee=x) for x in (a, b, d)])
    with connection.cursor() as cursor:  # around the ORM, as the load test's seeding writes
        cursor.execute(
            "INSERT INTO social_follow (follower_id, followee_id, created_at) "
            "VALUES (%s, %s, now()), (%s, %s, now())",
            [d.pk, a.pk, d.pk, b.pk],
        )
    for user in (a, b, c, d):
        assert kept(user) == counted(user)
    assert kept(a) == (3, 1)

    assert services.follow_delete(follower=a, followee=b)
    assert not services.follow_delete(follower=a, followee=b)
    Follow.objects.filter(follower=c).delete()  # one statement, three rows
    for user in (a, b, c, d):
        assert kept(user) == counted(user)
    d.delete()  # its follows go by cascade, and the counts of those it followed with them
    for user in (a, b, c):
        assert kept(user) == counted(user)
    assert kept(a) == (1, 0) and kept(b) == (0, 1)


def test_who_to_follow_reads_only_the_viewers_own_follows():
    """The suggestions' statement reads the viewer's follows (to leave them out) and the
    top of the ranking, never the follows of everyone: before, it counted all of them (two
    LEFT JOINs of social_follow, every row read twice)."""
    users = User.objects.bulk_create(
        [User(username=f"rank{i:03}", password="!") for i in range(300)]
    )
    viewer, others = users[0], users[1:]
    # Account i is followed by the i accounts after it: the last ones are the most followed.
    Follow.objects.bulk_create(
        [
            Follow(follower=f, followee=u)
            for i, u in enumerate(others[:60])
            for f in others[i + 1 : i + 1 + i]
        ]
    )
    staff = others[0]
    User.objects.filter(pk=staff.pk).update(is_staff=True)
    Follow.objects.bulk_create([Follow(follower=f, followee=staff) for f in others[1:250]])
    followed = others[59]  # the most followed ordinary account
    services.follow_create(follower=viewer, followee=followed)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE social_user, social_follow")

    with CaptureQueriesContext(connection) as queries:
        suggested = selectors.users_suggested(viewer_id=viewer.pk, limit=5)
    ranked = sorted(
        (u for u in others[:60] if u.pk not in (staff.pk, followed.pk)),
        key=lambda u: (-counted(u)[0], u.username),
    )
    assert [(p.id, p.followers_count, p.following_count) for p in suggested] == [
        (u.pk, *counted(u)) for u in ranked[:5]
    ]
    (query,) = queries.captured_queries
    assert rows_read(explain(query["sql"]), "social_follow") <= 1  # the viewer's one follow
