"""The like mail, in process: what it says, to whom, and that each like is mailed once.

Django's locmem backend stands in for the SMTP server here (pytest-django's ``mailoutbox``);
the live tests next to this one send through a real SMTP server.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.test import override_settings
from django.utils import timezone

from likes.models import Like
from notifications.models import LikeMailMark
from notifications.services import (
    like_mail_send,
    like_mail_subject,
    mail_preferences_get,
    mail_preferences_update,
)
from social.models import Post, User

pytestmark = pytest.mark.django_db


def user(name: str, email: str = "") -> User:
    return User.objects.create_user(username=name, password="x", email=email)


def like(post: Post, *users: User) -> None:
    for u in users:
        Like.objects.create(user=u, post=post, created_at=timezone.now())


@pytest.fixture
def post() -> Post:
    return Post.objects.create(author=user("author", "author@example.com"), body="my post")


def test_the_subject_names_the_newest_liker_and_counts_the_others():
    assert like_mail_subject(recent_usernames=["alice"], count=1) == "alice liked your post"
    assert (
        like_mail_subject(recent_usernames=["alice", "bob"], count=2)
        == "alice and bob liked your post"
    )
    assert (
        like_mail_subject(recent_usernames=["alice", "bob"], count=4)
        == "alice and 3 others liked your post"
    )


def test_one_mail_reports_every_like_not_reported_yet(post, mailoutbox):
    like(post, user("bob"), user("carol"), user("dave"), user("alice"))
    assert like_mail_send(post_id=post.pk) is True
    assert len(mailoutbox) == 1
    mail = mailoutbox[0]
    assert mail.to == ["author@example.com"]
    assert mail.subject == "alice and 3 others liked your post"
    assert "my post" in mail.body and "like_emails" in mail.body  # the post, and the way out


def test_a_like_is_mailed_once_however_often_the_task_runs(post, mailoutbox):
    like(post, user("bob"))
    assert like_mail_send(post_id=post.pk) is True
    assert like_mail_send(post_id=post.pk) is False  # a re-run: nothing new
    like(post, user("carol"))
    assert like_mail_send(post_id=post.pk) is True
    assert [m.subject for m in mailoutbox] == ["bob liked your post", "carol liked your post"]


def test_the_authors_own_like_is_not_news(post, mailoutbox):
    like(post, post.author)
    assert like_mail_send(post_id=post.pk) is False
    assert mailoutbox == []


def test_turning_like_mails_off_stops_them_and_on_again_mails_no_backlog(post, mailoutbox):
    mail_preferences_update(user=post.author, like_emails=False)
    like(post, user("bob"), user("carol"))
    assert like_mail_send(post_id=post.pk) is False
    assert mailoutbox == []
    assert LikeMailMark.objects.get(post=post).last_like_id > 0  # seen, not sent
    mail_preferences_update(user=post.author, like_emails=True)
    like(post, user("dave"))
    assert like_mail_send(post_id=post.pk) is True
    assert [m.subject for m in mailoutbox] == ["dave liked your post"]


def test_no_address_no_mail(mailoutbox):
    post = Post.objects.create(author=user("nomail"), body="x")
    like(post, user("bob"))
    assert like_mail_send(post_id=post.pk) is False
    assert mailoutbox == []


def test_a_deleted_post_sends_nothing(mailoutbox):
    assert like_mail_send(post_id=987654) is False
    assert mailoutbox == []


def test_preferences_default_to_on_and_keep_what_is_changed(post):
    author = post.author
    assert mail_preferences_get(user=author).like_emails is True
    prefs = mail_preferences_update(user=author, email="new@example.com")
    assert (prefs.email, prefs.like_emails) == ("new@example.com", True)
    prefs = mail_preferences_update(user=author, like_emails=False)
    assert (prefs.email, prefs.like_emails) == ("new@example.com", False)
    author.refresh_from_db()
    assert author.email == "new@example.com"


def test_the_mail_task_is_retried_when_redis_cannot_be_reached(post, mailoutbox):
    """Its first step (closing the debounce window) is a Redis call: while a Redis Cluster
    master is being failed over (tests/cluster/test_faults.py) that call fails, and a task
    that gave up then would never send its mail (the window's key stays until it expires,
    so no later like queues another). A Redis that refuses the connection (a free port
    nobody listens on) must make the task retry, as an SMTP failure does. Run eagerly
    (``apply``), Celery runs each retry at once: the task starts ``max_retries`` more times
    (counted by ``task_prerun``), where a task that gave up starts once."""
    from celery.signals import task_prerun

    from config.redis import get_redis
    from notifications.tasks import send_like_mail
    from tests.conftest import free_port

    like(post, user("bob"))
    starts: list[str] = []

    def count(sender: Any = None, **_: object) -> None:
        if getattr(sender, "name", None) == send_like_mail.name:
            starts.append("start")

    task_prerun.connect(count, weak=False)
    get_redis.cache_clear()
    try:
        with override_settings(REDIS_URL=f"redis://127.0.0.1:{free_port()}/0"):
            send_like_mail.apply(args=(post.pk,))
    finally:
        get_redis.cache_clear()
        task_prerun.disconnect(count)
    assert len(starts) == 1 + send_like_mail.max_retries
    assert mailoutbox == []  # the window was never closed: nothing sent
