"""The v2 lists of CONTRACT.md: a user's posts (``/api/users/<name>/posts/``) and a post's
likers (``/api/posts/<id>/likes/``), over HTTP against the live server; their query counts
in-process."""

from __future__ import annotations

import base64

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from likes import selectors as likes_selectors
from likes.services import like_create
from social import selectors
from social.models import Post, User

BAD_CURSORS = [
    "x",
    "not base64!",
    base64.urlsafe_b64encode(b"12|x").decode(),
    base64.urlsafe_b64encode(b"nan|1").decode(),
    base64.urlsafe_b64encode(b"-5|1").decode(),
    base64.urlsafe_b64encode(b"999999999999999999|1").decode(),  # beyond any datetime
    base64.urlsafe_b64encode(b"12|1|1").decode(),
    base64.urlsafe_b64encode("١٢|3".encode()).decode(),
    base64.urlsafe_b64encode(b"1.5e3|post:1:2").decode(),  # a feed's cursor is not one
    "A" * 401,
]


def every_page(client, path: str, limit: int) -> list[list[dict]]:
    pages, before = [], None
    while True:
        params = {"limit": limit, **({"before": before} if before else {})}
        answer = client.get(path, params=params)
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert set(body) == {"items", "next"}
        pages.append(body["items"])
        before = body["next"]
        if before is None:
            return pages


# --- a user's posts ---------------------------------------------------------------------------


def test_a_users_posts_come_newest_first_in_pages_that_cover_each_once(make_user, api):
    alice, bob = make_user(), make_user()
    posts = [api(alice).post("/api/posts/", json={"body": f"post {i}"}).json() for i in range(7)]
    pages = every_page(api(bob), f"/api/users/{alice['username']}/posts/", limit=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    listed = [item for page in pages for item in page]
    assert [p["id"] for p in listed] == [p["id"] for p in reversed(posts)]
    assert listed[0] == {**posts[-1], "liked_by_me": False}  # the Post shape, whole
    # Written meanwhile: a new post shifts no page (keyset, not OFFSET).
    first = api(bob).get(f"/api/users/{alice['username']}/posts/", params={"limit": 3}).json()
    api(alice).post("/api/posts/", json={"body": "newer"})
    second = (
        api(bob)
        .get(f"/api/users/{alice['username']}/posts/", params={"limit": 3, "before": first["next"]})
        .json()
    )
    assert [p["id"] for p in second["items"]] == [p["id"] for p in listed[3:6]]


def test_a_users_posts_say_what_the_viewer_likes(make_user, api, live_server_url):
    import httpx

    alice, bob = make_user(), make_user()
    posts = [api(alice).post("/api/posts/", json={"body": f"p{i}"}).json() for i in range(3)]
    api(bob).post(f"/api/posts/{posts[1]['id']}/like/")
    api(alice).post(f"/api/posts/{posts[2]['id']}/like/")
    path = f"/api/users/{alice['username']}/posts/"
    seen = {
        p["id"]: (p["liked_by_me"], p["like_count"]) for p in api(bob).get(path).json()["items"]
    }
    assert seen == {
        posts[0]["id"]: (False, 0),
        posts[1]["id"]: (True, 1),
        posts[2]["id"]: (False, 1),
    }
    own = {p["id"]: p["liked_by_me"] for p in api(alice).get(path).json()["items"]}
    assert own == {posts[0]["id"]: False, posts[1]["id"]: False, posts[2]["id"]: True}
    anonymous = httpx.get(f"{live_server_url}{path}").json()["items"]
    assert [p["liked_by_me"] for p in anonymous] == [False, False, False]


def test_a_user_without_posts_has_an_empty_list_and_an_unknown_one_is_404(make_user, api):
    alice = make_user()
    assert api(alice).get(f"/api/users/{alice['username']}/posts/").json() == {
        "items": [], "next": None
    }  # fmt: skip
    answer = api(alice).get("/api/users/nobody-at-all/posts/")
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_a_users_posts_refuse_a_cursor_they_did_not_give(make_user, api, cursor):
    alice = make_user()
    answer = api(alice).get(f"/api/users/{alice['username']}/posts/", params={"before": cursor})
    assert answer.status_code == 400, answer.text
    assert set(answer.json()) >= {"error", "detail"}


@pytest.mark.parametrize("limit", ["0", "101", "-1", "x", "1.5"])
def test_a_users_posts_refuse_a_limit_out_of_bounds(make_user, api, limit):
    alice = make_user()
    answer = api(alice).get(f"/api/users/{alice['username']}/posts/", params={"limit": limit})
    assert answer.status_code == 400 and "limit" in answer.json()["detail"]


def test_a_page_of_posts_is_one_query_whatever_its_length(transactional_db):
    alice, bob = User.objects.create(username="alice"), User.objects.create(username="bob")
    posts = Post.objects.bulk_create([Post(author=alice, body=f"p{i}") for i in range(30)])
    for post in posts[::2]:
        like_create(user_id=bob.pk, post_id=post.pk)
    counts = []
    for limit in (2, 25):
        with CaptureQueriesContext(connection) as queries:
            page = selectors.user_posts_page(user=alice, viewer_id=bob.pk, limit=limit, before=None)
        assert len(page.items) == limit
        counts.append(len(queries))
    assert counts == [1, 1]
    page = selectors.user_posts_page(user=alice, viewer_id=bob.pk, limit=30, before=None)
    liked = {p.pk for p in posts[::2]}
    assert all(item["liked_by_me"] == (item["id"] in liked) for item in page.items)


# --- a post's likers --------------------------------------------------------------------------


def test_a_posts_likers_come_newest_first_in_pages(make_user, api):
    alice = make_user()
    fans = [make_user() for _ in range(5)]
    post = api(alice).post("/api/posts/", json={"body": "like me"}).json()
    for fan in fans:
        api(fan).post(f"/api/posts/{post['id']}/like/")
    api(fans[1]).delete(f"/api/posts/{post['id']}/like/")
    pages = every_page(api(alice), f"/api/posts/{post['id']}/likes/", limit=2)
    assert [len(p) for p in pages] == [2, 2]
    likers = [item for page in pages for item in page]
    expected = [fans[i] for i in (4, 3, 2, 0)]
    assert [item["user"] for item in likers] == [
        {"id": f["id"], "username": f["username"]} for f in expected
    ]
    assert all(set(item) == {"user", "liked_at"} for item in likers)
    times = [item["liked_at"] for item in likers]
    assert times == sorted(times, reverse=True)


def test_likers_of_an_unknown_post_are_404(make_user, api):
    answer = api(make_user()).get("/api/posts/987654321/likes/")
    assert answer.status_code == 404 and answer.json()["error"] == "not_found"


@pytest.mark.parametrize("cursor", BAD_CURSORS)
def test_likers_refuse_a_cursor_they_did_not_give(make_user, api, cursor):
    alice = make_user()
    post = api(alice).post("/api/posts/", json={"body": "x"}).json()
    answer = api(alice).get(f"/api/posts/{post['id']}/likes/", params={"before": cursor})
    assert answer.status_code == 400, answer.text


@pytest.mark.parametrize("limit", ["0", "101", "x"])
def test_likers_refuse_a_limit_out_of_bounds(make_user, api, limit):
    alice = make_user()
    post = api(alice).post("/api/posts/", json={"body": "x"}).json()
    answer = api(alice).get(f"/api/posts/{post['id']}/likes/", params={"limit": limit})
    assert answer.status_code == 400 and "limit" in answer.json()["detail"]


def test_a_page_of_likers_is_two_queries_whatever_its_length(transactional_db):
    alice = User.objects.create(username="alice")
    post = Post.objects.create(author=alice, body="x")
    fans = User.objects.bulk_create([User(username=f"fan{i}") for i in range(30)])
    for fan in fans:
        like_create(user_id=fan.pk, post_id=post.pk)
    fans[3].is_active = False
    fans[3].save()
    counts = []
    for limit in (2, 25):
        with CaptureQueriesContext(connection) as queries:
            page = likes_selectors.post_likers_page(post_id=post.pk, limit=limit, before=None)
        assert len(page.items) == limit
        counts.append(len(queries))
    assert counts == [2, 2]
    every = likes_selectors.post_likers_page(post_id=post.pk, limit=100, before=None).items
    assert fans[3].pk not in {item["user"]["id"] for item in every}  # deactivated: left out
    assert len(every) == 29
