"""A post is its own outbox, as a like is (issue 17.6): a post whose fan-out message was lost
(a broker outage after commit, a worker killed with it) is found and re-queued by the
sweeper, and a post fanned out once is never fanned out again.

On the code before this change the first test failed (the sweeper knew only likes: the
lost post never reached the follower's feed) and so did the second (nothing marked a post
done: ``owed`` was None for the post kind).
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from feed import fanout, store
from feed.tasks import sweep_owed_fanouts
from social import services as social_services
from social.models import Post, User
from tests.conftest import wait_until


def test_a_post_whose_fanout_was_lost_is_requeued_by_the_sweeper(make_user, api):
    author, fan = make_user(), make_user()
    api(fan).put(f"/api/users/{author['username']}/follow/")
    # The row as the publishing service stores it, but its fan-out message never sent (what
    # a broker outage right after the commit leaves), and owed for an hour.
    post = social_services.post_create(author=User.objects.get(pk=author["id"]), body="lost")
    Post.objects.filter(pk=post.pk).update(created_at=timezone.now() - timedelta(hours=1))

    assert sweep_owed_fanouts() >= 1
    item_id = store.post_item_id(post_id=post.pk)
    wait_until(
        lambda: item_id in [i["id"] for i in api(fan).get("/api/feed/").json()["items"]],
        timeout=30,
    )
    wait_until(lambda: Post.objects.get(pk=post.pk).fanned_out_at is not None)


def test_a_post_is_marked_done_once_and_not_owed_after(transactional_db):
    author = User.objects.create(username="author")
    post = social_services.post_create(author=author, body="x")
    assert fanout.POST.owed is not None
    assert post.pk in fanout.POST.owed(timedelta(0))
    assert [h.id for h in fanout.POST.load([post.pk])] == [post.pk]

    assert fanout.POST.done([post.pk]) == {post.pk}
    assert fanout.POST.done([post.pk]) == set()  # each post reported done once
    assert fanout.POST.load([post.pk]) == []  # a redelivered task finds nothing owed
    assert post.pk not in fanout.POST.owed(timedelta(0))


def test_posts_written_around_the_service_are_not_owed(transactional_db):
    """Seeded or bulk-made rows (the load test's COPY, fixtures, the admin) never had a
    fan-out queued: the column's database default marks them done, so a sweep does not
    fan out thousands of old posts."""
    author = User.objects.create(username="author")
    Post.objects.bulk_create([Post(author=author, body=f"{i}") for i in range(3)])
    assert fanout.POST.owed is not None
    assert fanout.POST.owed(timedelta(0)) == []
