"""The like's two edges: the cookie (session + CSRF) view a browser uses, and the event-loop
hot path for API tokens, whose answers must be the view's, byte for byte."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from likes.models import Like
from social.models import Post, User
from social.tokens import token_issue
from tests.conftest import PASSWORD, wait_until


def test_a_browser_likes_with_its_session_cookie_and_csrf_token(make_user, api, live_server_url):
    author, fan, follower = make_user(), make_user(), make_user()
    api(follower).put(f"/api/users/{fan['username']}/follow/")
    post = api(author).post("/api/posts/", json={"body": "like me from a page"}).json()
    url = f"/api/posts/{post['id']}/like/"
    with httpx.Client(base_url=live_server_url, timeout=10) as browser:
        login = browser.post(
            "/api/auth/login/", json={"username": fan["username"], "password": PASSWORD}
        )
        assert login.status_code == 200 and "sessionid" in browser.cookies
        csrf = {"X-CSRFToken": browser.cookies["csrftoken"], "Origin": live_server_url}

        assert browser.post(url).status_code == 403  # a session without its CSRF token
        liked = browser.post(url, headers=csrf)
        assert (liked.status_code, liked.json()) == (
            200,
            {"post_id": post["id"], "liked": True, "like_count": 1, "likes_version": 1},
        )
        assert browser.post(url, headers=csrf).json() == liked.json()  # idempotent
        # Stored, counted, and fanned out through the same pipeline as a token's like.
        rows = Like.objects.filter(user_id=fan["id"], post_id=post["id"])
        assert rows.count() == 1
        items = wait_until(lambda: api(follower).get("/api/feed/").json()["items"])
        assert [(i["kind"], i["actor"]["id"]) for i in items] == [("like", fan["id"])]
        wait_until(lambda: rows.filter(fanned_out_at__isnull=False).exists())

        unliked = browser.delete(url, headers=csrf)
        assert (unliked.status_code, unliked.json()) == (
            200,
            {"post_id": post["id"], "liked": False, "like_count": 0, "likes_version": 2},
        )
        wait_until(lambda: api(follower).get("/api/feed/").json()["items"] == [])


# --- the hot path's answer is the view's ------------------------------------------------------


Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


async def _call(app: Any, *, method: str, path: str, token: str) -> Answer:
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
        "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
        "query_string": b"", "root_path": "",
        "headers": [(b"host", b"127.0.0.1"), (b"authorization", f"Token {token}".encode()),
                    (b"content-length", b"0")],
        "client": ("127.0.0.1", 50000), "server": ("127.0.0.1", 80),
    }  # fmt: skip
    sent: list[dict[str, Any]] = []
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if done:
            await asyncio.sleep(3600)
        done = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], list(start["headers"]), body


@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_the_hot_path_answers_exactly_what_the_view_answers(transactional_db, method):
    from config.asgi import application, django_asgi_app
    from config.asyncdb import _pools
    from likes.asgi import fast_path_enabled

    assert fast_path_enabled()
    author = User.objects.create(username="author")
    fan = User.objects.create(username="fan")
    token = token_issue(user=fan)
    post = Post.objects.create(author=author, body="x")
    path = f"/api/posts/{post.pk}/like/"

    async def both() -> tuple[Answer, Answer, Answer, Answer]:
        try:
            # Each side changes the state first once, then answers the unchanged state, so
            # both a change and a repeat are compared (likes are idempotent).
            if method == "DELETE":
                await _call(application, method="POST", path=path, token=token)
            start_version = (await Post.objects.aget(pk=post.pk)).likes_version
            hot_first = await _call(application, method=method, path=path, token=token)
            view_again = await _call(django_asgi_app, method=method, path=path, token=token)
            flip = "DELETE" if method == "POST" else "POST"
            await _call(application, method=flip, path=path, token=token)
            # Back to the state before hot_first, version included, so both sides answer
            # the same change from the same state.
            await Post.objects.filter(pk=post.pk).aupdate(likes_version=start_version)
            view_first = await _call(django_asgi_app, method=method, path=path, token=token)
            hot_again = await _call(application, method=method, path=path, token=token)
            await asyncio.sleep(0.05)  # the loop's fan-out batch leaves (nothing consumes it)
            return hot_first, view_again, view_first, hot_again
        finally:
            pool = _pools.pop(id(asyncio.get_running_loop()), None)
            if pool is not None:
                await pool.close()

    hot_first, view_again, view_first, hot_again = asyncio.run(both())
    liked = method == "POST"
    assert json.loads(hot_first[2]) == {
        "post_id": post.pk,
        "liked": liked,
        "like_count": int(liked),
        "likes_version": 1 + int(not liked),
    }
    assert hot_first == view_first  # a change: same status, headers and body bytes
    assert hot_again == view_again  # a repeat that changed nothing
    assert hot_first[0] == 200


def test_the_hot_path_leaves_unknown_tokens_and_posts_to_the_view(transactional_db):
    from config.asgi import application, django_asgi_app
    from config.asyncdb import _pools

    fan = User.objects.create(username="fan")
    token = token_issue(user=fan)

    async def both() -> list[tuple[Answer, Answer]]:
        try:
            cases = [("/api/posts/987654321/like/", token), ("/api/posts/1/like/", "nope")]
            return [
                (
                    await _call(application, method="POST", path=path, token=key),
                    await _call(django_asgi_app, method="POST", path=path, token=key),
                )
                for path, key in cases
            ]
        finally:
            pool = _pools.pop(id(asyncio.get_running_loop()), None)
            if pool is not None:
                await pool.close()

    for hot, view in asyncio.run(both()):
        assert hot == view and hot[0] in (401, 403, 404)
