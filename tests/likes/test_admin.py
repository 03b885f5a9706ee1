"""The admin's recount buttons: a task whose result a person waits for (broker + backend)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from social.models import Post

pytestmark = pytest.mark.stack


def test_admin_recount_waits_for_the_workers_drift_report_and_shows_it(
    live_server_url, admin_client, make_user, api
):
    author = make_user()
    post = api(author).post("/api/posts/", json={"body": "counted"}).json()
    Post.objects.filter(pk=post["id"]).update(like_count=5)  # a manual edit: drift

    checked = admin_client.post(reverse("admin:likes_like_recount"), {"fix": "0"}, follow=True)
    assert checked.status_code == 200
    assert f"post {post['id']} said 5, has 0 likes" in checked.content.decode()
    assert "not repaired" in checked.content.decode()
    assert Post.objects.get(pk=post["id"]).like_count == 5

    repaired = admin_client.post(reverse("admin:likes_like_recount"), {"fix": "1"}, follow=True)
    assert f"post {post['id']} said 5, has 0 likes" in repaired.content.decode()
    assert Post.objects.get(pk=post["id"]).like_count == 0


def test_admin_recount_list_page_offers_both_buttons(live_server_url, admin_client):
    page = admin_client.get(reverse("admin:likes_like_changelist")).content.decode()
    assert "Check like counters" in page and "Repair like counters" in page


def test_admin_recount_refuses_get(live_server_url, admin_client):
    assert admin_client.get(reverse("admin:likes_like_recount")).status_code == 405
