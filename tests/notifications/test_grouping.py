"""Grouped notifications in process: the services the pipeline's hooks call, on real
PostgreSQL. (The whole path, HTTP → fan-out worker → hook → socket, is in ``test_api_live``.)
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from feed.fanout import Happening
from likes.models import Like
from notifications import selectors
from notifications.grouping import (
    follow_notification_change,
    like_notifications_add,
    like_notifications_remove,
    notifications_read,
)
from notifications.models import Notification, NotificationActor
from social.models import Follow, Post, User

pytestmark = pytest.mark.django_db


def user(name: str) -> User:
    return User.objects.create_user(username=name, password="x")


def like(post: Post, liker: User, *, seconds: int = 0) -> Happening:
    row = Like.objects.create(
        user=liker, post=post, created_at=timezone.now() - timedelta(seconds=100 - seconds)
    )
    return Happening(row.pk, liker.pk, post.pk, row.created_at)


def unlike(post: Post, liker: User) -> tuple[int, int, int]:
    row = Like.objects.get(user=liker, post=post)
    row.delete()
    return (row.pk, liker.pk, post.pk)


def page(u: User, **kw) -> selectors.NotificationPage:
    return selectors.notifications_page(user_id=u.pk, limit=kw.get("limit", 20), before=None)


def names(item: dict) -> list[str]:
    return [a["username"] for a in item["actors"]]


@pytest.fixture
def author() -> User:
    return user("author")


@pytest.fixture
def post(author) -> Post:
    return Post.objects.create(author=author, body="my post")


def test_likes_of_one_post_make_one_notification_newest_actor_first(author, post):
    likers = [user(n) for n in ("bob", "carol", "dave", "erin")]
    like_notifications_add([like(post, likers[0], seconds=1), like(post, likers[1], seconds=2)])
    like_notifications_add([like(post, likers[2], seconds=3)])
    like_notifications_add([like(post, likers[3], seconds=4)])

    result = page(author)
    assert len(result.items) == 1 and result.unread == 1
    item = result.items[0]
    assert item["kind"] == "like" and item["post"]["id"] == post.pk
    assert names(item) == ["erin", "dave", "carol"]  # the newest three
    assert item["actors_count"] == 4 and item["read"] is False
    assert Notification.objects.count() == 1


def test_a_new_like_moves_the_notification_to_the_top_and_makes_it_unread(author, post):
    other = Post.objects.create(author=author, body="other")
    bob, carol = user("bob"), user("carol")
    like_notifications_add([like(post, bob, seconds=1)])
    like_notifications_add([like(other, bob, seconds=2)])
    notifications_read(user=author)
    assert page(author).unread == 0

    like_notifications_add([like(post, carol, seconds=3)])
    result = page(author)
    assert [i["post"]["id"] for i in result.items] == [post.pk, other.pk]
    assert [i["read"] for i in result.items] == [False, True]
    assert result.unread == 1


def test_a_batch_run_twice_changes_nothing_the_second_time(author, post):
    batch = [like(post, user("bob")), like(post, user("carol"))]
    like_notifications_add(batch)
    notifications_read(user=author)
    like_notifications_add(batch)  # a redelivered batch
    item = page(author).items[0]
    assert item["actors_count"] == 2 and item["read"] is True


def test_nobody_is_notified_of_their_own_like(author, post):
    like_notifications_add([like(post, author)])
    assert Notification.objects.count() == 0
    like_notifications_add([like(post, user("bob"))])
    assert page(author).items[0]["actors_count"] == 1


def test_an_unlike_takes_its_actor_out_and_the_last_one_takes_the_notification(author, post):
    bob, carol = user("bob"), user("carol")
    like_notifications_add([like(post, bob, seconds=1), like(post, carol, seconds=2)])

    like_notifications_remove([unlike(post, carol)])
    item = page(author).items[0]
    assert names(item) == ["bob"] and item["actors_count"] == 1

    like_notifications_remove([unlike(post, bob)])
    assert page(author).items == [] and page(author).unread == 0
    assert Notification.objects.count() == 0 and NotificationActor.objects.count() == 0


def test_a_removal_that_runs_after_a_like_again_keeps_the_actor(author, post):
    bob = user("bob")
    like_notifications_add([like(post, bob)])
    gone = unlike(post, bob)
    like_notifications_add([like(post, bob, seconds=1)])
    like_notifications_remove([gone])  # the first unlike's removal, late
    assert names(page(author).items[0]) == ["bob"]


def test_a_like_already_taken_back_adds_nothing(author, post):
    bob = user("bob")
    happening = like(post, bob)
    unlike(post, bob)
    like_notifications_add([happening])
    assert Notification.objects.count() == 0


def test_deleting_the_post_removes_its_notifications(author, post):
    like_notifications_add([like(post, user("bob"))])
    post.delete()
    assert Notification.objects.count() == 0 and page(author).unread == 0


def test_follows_group_while_unread_and_start_a_new_group_once_read(author):
    followers = [user(n) for n in ("bob", "carol", "dave")]
    for f in followers[:2]:
        Follow.objects.create(follower=f, followee=author)
        follow_notification_change(follower_id=f.pk, followee_id=author.pk, following=True)
    result = page(author)
    assert len(result.items) == 1 and result.items[0]["kind"] == "follow"
    assert names(result.items[0]) == ["carol", "bob"] and result.items[0]["post"] is None

    notifications_read(user=author)
    Follow.objects.create(follower=followers[2], followee=author)
    follow_notification_change(follower_id=followers[2].pk, followee_id=author.pk, following=True)
    result = page(author)
    assert [names(i) for i in result.items] == [["dave"], ["carol", "bob"]]
    assert [i["read"] for i in result.items] == [False, True] and result.unread == 1


def test_an_unfollow_takes_the_follower_out(author):
    bob = user("bob")
    Follow.objects.create(follower=bob, followee=author)
    follow_notification_change(follower_id=bob.pk, followee_id=author.pk, following=True)
    Follow.objects.filter(follower=bob).delete()
    follow_notification_change(follower_id=bob.pk, followee_id=author.pk, following=False)
    assert Notification.objects.count() == 0


def test_a_deactivated_actor_is_not_shown(author, post):
    bob, carol = user("bob"), user("carol")
    like_notifications_add([like(post, bob, seconds=1), like(post, carol, seconds=2)])
    User.objects.filter(pk=carol.pk).update(is_active=False)
    assert names(page(author).items[0]) == ["bob"]
    User.objects.filter(pk=bob.pk).update(is_active=False)
    assert page(author).items == []


def test_a_batch_of_likes_is_a_fixed_number_of_queries(author):
    def queries_for(n: int) -> int:
        posts = [Post.objects.create(author=author, body=f"p{i}") for i in range(n)]
        batch = [like(p, user(f"l{n}-{i}")) for i, p in enumerate(posts)]
        with CaptureQueriesContext(connection) as ctx:
            like_notifications_add(batch)
        return len(ctx.captured_queries)

    assert queries_for(1) == queries_for(20)


def test_a_page_is_a_fixed_number_of_queries_and_pages_do_not_overlap(author):
    for i in range(7):
        p = Post.objects.create(author=author, body=f"p{i}")
        like_notifications_add([like(p, user(f"liker{i}"), seconds=i)])
    with CaptureQueriesContext(connection) as small:
        selectors.notifications_page(user_id=author.pk, limit=1, before=None)
    with CaptureQueriesContext(connection) as big:
        first = selectors.notifications_page(user_id=author.pk, limit=4, before=None)
    assert len(small.captured_queries) == len(big.captured_queries)
    second = selectors.notifications_page(user_id=author.pk, limit=4, before=first.next)
    assert second.next is None
    seen = [i["id"] for i in first.items + second.items]
    assert len(seen) == len(set(seen)) == 7


@pytest.mark.django_db(transaction=True)
def test_concurrent_likes_of_one_post_make_one_notification():
    author = user("author")
    post = Post.objects.create(author=author, body="hot")
    batches = [[like(post, user(f"c{i}-{j}")) for j in range(3)] for i in range(8)]
    barrier = threading.Barrier(len(batches))
    errors: list[BaseException] = []

    def run(batch: list[Happening]) -> None:
        try:
            barrier.wait()
            like_notifications_add(batch)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(b,)) for b in batches]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Notification.objects.count() == 1
    assert Notification.objects.get().actors_count == 24 == NotificationActor.objects.count()


@pytest.mark.django_db(transaction=True)
def test_a_write_chosen_as_a_deadlock_victim_runs_again():
    from notifications.grouping import _run

    one, two = user("one"), user("two")
    lock = "SELECT id FROM social_user WHERE id = %s FOR UPDATE"
    a_has_one, b_has_two, b_done = threading.Event(), threading.Event(), threading.Event()
    attempts: list[int] = []
    errors: list[BaseException] = []
    other_pid: list[int] = []

    def write(cursor):
        attempts.append(1)
        if len(attempts) > 1:
            b_done.wait(30)  # the retry: after the other one, so nothing else can race
        cursor.execute(lock, [one.pk])
        if len(attempts) == 1:
            a_has_one.set()
            b_has_two.wait(10)
            # Until the other transaction waits for row one (PostgreSQL looks for a deadlock
            # once, deadlock_timeout after a wait begins: the other must be waiting by then).
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                cursor.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE pid = %s AND wait_event_type = 'Lock'",
                    [other_pid[0]],
                )
                if cursor.fetchone():
                    break
                time.sleep(0.02)
        cursor.execute(lock, [two.pk])  # the first time: a deadlock, found by this side
        return [], []

    def other() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                # This side waits longer before looking for deadlocks: the write is the victim.
                cursor.execute("SET LOCAL deadlock_timeout = '60s'")
                cursor.execute("SELECT pg_backend_pid()")
                other_pid.append(cursor.fetchone()[0])
                cursor.execute(lock, [two.pk])
                b_has_two.set()
                a_has_one.wait(5)
                cursor.execute(lock, [one.pk])
        except BaseException as exc:
            errors.append(exc)
        finally:
            b_done.set()
            connection.close()

    def victim() -> None:
        try:
            _run(write)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=other), threading.Thread(target=victim)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(90)
    assert errors == []
    assert len(attempts) == 2


def test_a_post_deletion_can_take_its_notifications_first(author, post):
    from notifications.grouping import post_notifications_delete

    other = Post.objects.create(author=author, body="stays")
    like_notifications_add([like(post, user("bob")), like(other, user("carol"))])
    post_notifications_delete(post_ids=[post.pk])
    assert [i["post"]["id"] for i in page(author).items] == [other.pk]
    assert NotificationActor.objects.count() == 1
