"""Counter drift is found and repaired (recount_likes), on the real database."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.utils import timezone

from likes.counters import like_counts_recount
from likes.models import Like
from social.models import Post, User


@pytest.fixture
def post_with_likes(db):
    author = User.objects.create(username="author")
    post = Post.objects.create(author=author, body="x")
    for i in range(3):
        Like.objects.create(
            user=User.objects.create(username=f"fan{i}"), post=post, created_at=timezone.now()
        )
    Post.objects.filter(pk=post.pk).update(like_count=3)
    return post


def test_no_drift_is_reported_when_counters_match(post_with_likes):
    report = like_counts_recount(fix=True)
    assert report.drifted == [] and not report.fixed and report.checked_posts == 1


def test_drift_is_reported_and_fixed(post_with_likes):
    Post.objects.filter(pk=post_with_likes.pk).update(like_count=7)
    report = like_counts_recount(fix=False)
    assert report.drifted == [(post_with_likes.pk, 7, 3)] and not report.fixed
    assert Post.objects.get(pk=post_with_likes.pk).like_count == 7
    report = like_counts_recount(fix=True)
    assert report.fixed and Post.objects.get(pk=post_with_likes.pk).like_count == 3
    assert like_counts_recount(fix=False).drifted == []


def test_recount_command_prints_the_drift(post_with_likes, capsys):
    Post.objects.filter(pk=post_with_likes.pk).update(like_count=0)
    call_command("recount_likes", "--fix")
    out = capsys.readouterr().out
    assert f"post {post_with_likes.pk}: like_count 0, like rows 3" in out
    assert "1 drifted (fixed)" in out
