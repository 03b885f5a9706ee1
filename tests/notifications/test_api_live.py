"""Notifications through the whole stack: HTTP like/follow → fan-out worker → the like kind's
hook → ``/api/notifications/``, ``/api/me/``'s count and the ``notification`` socket event.
"""

from __future__ import annotations

import pytest

from tests.conftest import wait_until
from tests.ws import receive_until, ws_connect


@pytest.fixture
def ws_url(live_stack):
    return live_stack.ws_url


def notifications(client, **params):
    answer = client.get("/api/notifications/", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def is_notification(message):
    return message["type"] == "notification"


def test_likes_of_a_post_group_into_one_notification_live_and_read_clears_it(
    make_user, api, ws_url
):
    author = make_user()
    me = api(author)
    post = me.post("/api/posts/", json={"body": "like me"}).json()
    likers = [make_user() for _ in range(4)]

    with ws_connect(ws_url, token=author["token"]) as ws:
        for liker in likers:
            assert api(liker).post(f"/api/posts/{post['id']}/like/").status_code == 200
        last = likers[-1]["username"]
        event, _ = receive_until(
            ws,
            lambda m: is_notification(m) and m["notification"]["actors_count"] == 4,
            timeout=30,
        )
    assert event["unread"] == 1
    assert event["notification"]["actors"][0]["username"] == last
    assert event["notification"]["post"]["id"] == post["id"]

    page = notifications(me)
    assert page["unread"] == 1 and page["next"] is None and len(page["items"]) == 1
    item = page["items"][0]
    assert item["kind"] == "like" and item["actors_count"] == 4 and item["read"] is False
    assert [a["username"] for a in item["actors"]] == [u["username"] for u in likers[:0:-1]]
    assert me.get("/api/me/").json()["unread_notifications"] == 1

    assert me.post("/api/notifications/read/").status_code == 204
    assert notifications(me)["unread"] == 0
    assert me.get("/api/me/").json()["unread_notifications"] == 0
    assert notifications(me)["items"][0]["read"] is True


def test_an_unlike_takes_the_actor_out_and_the_last_takes_the_notification(make_user, api):
    author = make_user()
    post = api(author).post("/api/posts/", json={"body": "p"}).json()
    bob, carol = make_user(), make_user()
    for u in (bob, carol):
        api(u).post(f"/api/posts/{post['id']}/like/")
    wait_until(lambda: (notifications(api(author))["items"] or [{}])[0].get("actors_count") == 2)

    api(carol).delete(f"/api/posts/{post['id']}/like/")
    wait_until(lambda: notifications(api(author))["items"][0]["actors_count"] == 1)
    assert notifications(api(author))["items"][0]["actors"] == [
        {"id": bob["id"], "username": bob["username"]}
    ]
    api(bob).delete(f"/api/posts/{post['id']}/like/")
    wait_until(lambda: notifications(api(author))["items"] == [])
    assert notifications(api(author))["unread"] == 0


def test_own_like_is_not_notified_and_follows_group(make_user, api, ws_url):
    author = make_user()
    me = api(author)
    post = me.post("/api/posts/", json={"body": "p"}).json()
    me.post(f"/api/posts/{post['id']}/like/")
    fans = [make_user() for _ in range(3)]
    with ws_connect(ws_url, token=author["token"]) as ws:
        for fan in fans:
            assert api(fan).put(f"/api/users/{author['username']}/follow/").status_code == 200
        event, seen = receive_until(
            ws, lambda m: is_notification(m) and m["notification"]["actors_count"] == 3
        )
    assert event["notification"]["kind"] == "follow" and event["unread"] == 1
    page = notifications(me)
    assert [i["kind"] for i in page["items"]] == ["follow"]  # nothing for the own like
    assert [a["username"] for a in page["items"][0]["actors"]] == [
        f["username"] for f in reversed(fans)
    ]
    assert not any(m["notification"]["kind"] == "like" for m in seen if is_notification(m))

    # Once the own like is fanned out (its hooks run right then), another like is alone.
    from likes.models import Like

    wait_until(lambda: Like.objects.filter(post_id=post["id"], fanned_out_at__isnull=False))
    other = make_user()
    api(other).post(f"/api/posts/{post['id']}/like/")
    wait_until(lambda: len(notifications(me)["items"]) == 2)
    liked = notifications(me)["items"][0]
    assert liked["kind"] == "like" and liked["actors_count"] == 1
    assert [a["username"] for a in liked["actors"]] == [other["username"]]


def test_deleting_a_post_takes_its_notifications(make_user, api, ws_url):
    from django.db import transaction

    from notifications.grouping import post_notifications_delete
    from social.models import Post

    author = make_user()
    posts = [api(author).post("/api/posts/", json={"body": b}).json() for b in ("a", "b")]
    for post in posts:
        api(make_user()).post(f"/api/posts/{post['id']}/like/")
    wait_until(lambda: notifications(api(author))["unread"] == 2)

    # The foreign key's cascade: gone from the list and the count.
    Post.objects.filter(pk=posts[0]["id"]).delete()  # DELETE /api/posts/ is another change's
    page = notifications(api(author))
    assert [i["post"]["id"] for i in page["items"]] == [posts[1]["id"]] and page["unread"] == 1

    # What the deletion service can call first: open pages hear that it went.
    with ws_connect(ws_url, token=author["token"]) as ws:
        with transaction.atomic():
            post_notifications_delete(post_ids=[posts[1]["id"]])
            Post.objects.filter(pk=posts[1]["id"]).delete()
        event, _ = receive_until(ws, is_notification)
    assert event["notification"]["actors_count"] == 0 and event["unread"] == 0
    assert notifications(api(author))["items"] == []


def test_pages_follow_the_cursor_and_bad_input_is_a_400(make_user, api):
    author = make_user()
    me = api(author)
    posts = [me.post("/api/posts/", json={"body": f"p{i}"}).json() for i in range(3)]
    liker = make_user()
    for post in posts:
        api(liker).post(f"/api/posts/{post['id']}/like/")
    wait_until(lambda: len(notifications(me)["items"]) == 3)

    first = notifications(me, limit=2)
    assert len(first["items"]) == 2 and first["next"]
    second = notifications(me, limit=2, before=first["next"])
    assert len(second["items"]) == 1 and second["next"] is None
    ids = [i["post"]["id"] for i in first["items"] + second["items"]]
    assert ids == [p["id"] for p in reversed(posts)]

    bad = ("nope", "1.x", "١٢٣.٤", "1.2.3", "999999999999999999.1", first["next"] + "\n")
    for params in [{"before": b} for b in bad] + [{"limit": 0}, {"limit": 101}]:
        answer = me.get("/api/notifications/", params=params)
        assert answer.status_code == 400, (params, answer.text)
        assert set(answer.json()) >= {"error", "detail"}
    assert api(None).get("/api/notifications/").status_code in (401, 403)
    assert api(None).post("/api/notifications/read/").status_code in (401, 403)
