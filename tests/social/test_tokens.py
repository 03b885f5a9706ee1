"""API tokens end (issue 17): a token per login, logout revokes the one it was called with,
tokens expire after TOKEN_TTL, and an inactive owner's tokens stop. "Ends" means on every
edge at once: the views (DRF's authentication), the like fast path (its SQL, whatever its
owner cache holds) and the socket handshake.

On the code before this change every check here failed: logout left the token working,
every login returned the same token, and nothing expired one.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.utils import timezone

from feed.ws_auth import _user_for_token
from social.models import ApiToken, Post, User
from social.tokens import token_digest, token_issue
from tests.conftest import PASSWORD, ROOT
from tests.likes.test_like_edges import _call

ENDINGS = ["logout", "expiry", "deactivation"]


def _login(base: str, user: dict[str, Any]) -> str:
    answer = httpx.post(
        f"{base}/api/auth/login/", json={"username": user["username"], "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["token"])


def _end(how: str, *, base: str, token: str, user_id: int) -> None:
    """End ``token`` the way ``how`` says."""
    if how == "logout":
        answer = httpx.post(f"{base}/api/auth/logout/", headers={"Authorization": f"Token {token}"})
        assert answer.status_code == 204
    elif how == "expiry":
        ttl = timedelta(seconds=settings.TOKEN_TTL + 1)
        ApiToken.objects.filter(digest=token_digest(token)).update(created=timezone.now() - ttl)
    else:
        User.objects.filter(pk=user_id).update(is_active=False)


def test_every_login_returns_a_new_token_and_each_works(make_user, live_server_url):
    user = make_user()
    first, second = _login(live_server_url, user), _login(live_server_url, user)
    assert len({user["token"], first, second}) == 3
    for token in (user["token"], first, second):
        me = httpx.get(f"{live_server_url}/api/me/", headers={"Authorization": f"Token {token}"})
        assert me.status_code == 200 and me.json()["id"] == user["id"]


@pytest.mark.parametrize("how", ENDINGS)
def test_an_ended_token_stops_at_once_on_every_http_edge(make_user, live_server_url, how):
    """Over HTTP against the running stack: the like (the fast path, its owner cache primed
    by a like the token made just before) and the views refuse the ended token with the
    view's 401 from the next request on; the same user's other login keeps working unless
    the account itself ended."""
    author, fan = make_user(), make_user()
    other = _login(live_server_url, fan)
    headers = {"Authorization": f"Token {fan['token']}"}
    post = httpx.post(
        f"{live_server_url}/api/posts/", json={"body": "x"},
        headers={"Authorization": f"Token {author['token']}"},
    ).json()  # fmt: skip
    like = f"{live_server_url}/api/posts/{post['id']}/like/"
    assert httpx.post(like, headers=headers).status_code == 200  # primes the owner cache

    _end(how, base=live_server_url, token=fan["token"], user_id=fan["id"])

    for answer in (
        httpx.post(like, headers=headers),
        httpx.delete(like, headers=headers),
        httpx.get(f"{live_server_url}/api/me/", headers=headers),
        httpx.post(f"{live_server_url}/api/auth/logout/", headers=headers),
    ):
        assert answer.status_code == 401, (answer.request.method, answer.request.url, answer.text)
        assert answer.json()["error"]
    assert Post.objects.get(pk=post["id"]).like_count == 1  # the refused unlike changed nothing
    still = httpx.get(f"{live_server_url}/api/me/", headers={"Authorization": f"Token {other}"})
    assert still.status_code == (401 if how == "deactivation" else 200)


@pytest.mark.parametrize("how", ENDINGS)
@pytest.mark.parametrize("method", ["POST", "DELETE"])
def test_the_fast_path_refuses_an_ended_token_as_the_view_does(transactional_db, how, method):
    """In process: after a like primed the fast path's owner cache, the ended token's answer
    from the fast path is the view's, byte for byte (a 401), and nothing changes."""
    from config.asgi import application, django_asgi_app
    from config.asyncdb import _pools

    author = User.objects.create(username="author")
    fan = User.objects.create(username="fan")
    token = token_issue(user=fan)
    post = Post.objects.create(author=author, body="x")
    path = f"/api/posts/{post.pk}/like/"

    async def run() -> tuple[Any, Any, Any]:
        try:
            primed = await _call(application, method="POST", path=path, token=token)
            if how == "logout":  # the revocation itself, as the logout view does it
                await ApiToken.objects.filter(digest=token_digest(token)).adelete()
            elif how == "expiry":
                ttl = timedelta(seconds=settings.TOKEN_TTL + 1)
                await ApiToken.objects.filter(digest=token_digest(token)).aupdate(
                    created=timezone.now() - ttl
                )
            else:
                await User.objects.filter(pk=fan.pk).aupdate(is_active=False)
            hot = await _call(application, method=method, path=path, token=token)
            view = await _call(django_asgi_app, method=method, path=path, token=token)
            return primed, hot, view
        finally:
            pool = _pools.pop(id(asyncio.get_running_loop()), None)
            if pool is not None:
                await pool.close()

    primed, hot, view = asyncio.run(run())
    assert primed[0] == 200
    assert hot == view and hot[0] == 401
    assert Post.objects.get(pk=post.pk).like_count == 1


@pytest.mark.parametrize("how", ENDINGS)
def test_the_socket_handshake_refuses_an_ended_token(transactional_db, how):
    fan = User.objects.create(username="fan")
    token = token_issue(user=fan)
    assert asyncio.run(_user_for_token(token)) == fan
    if how == "logout":
        ApiToken.objects.filter(digest=token_digest(token)).delete()
    elif how == "expiry":
        ttl = timedelta(seconds=settings.TOKEN_TTL + 1)
        ApiToken.objects.filter(digest=token_digest(token)).update(created=timezone.now() - ttl)
    else:
        User.objects.filter(pk=fan.pk).update(is_active=False)
    assert not asyncio.run(_user_for_token(token)).is_authenticated


def test_logout_ends_the_session_too(make_user, live_server_url):
    user = make_user()
    with httpx.Client(base_url=live_server_url) as browser:
        browser.post("/api/auth/login/", json={"username": user["username"], "password": PASSWORD})
        assert browser.get("/api/me/").status_code == 200
        csrf = {"X-CSRFToken": browser.cookies["csrftoken"], "Origin": live_server_url}
        assert browser.post("/api/auth/logout/", headers=csrf).status_code == 204
        assert browser.get("/api/me/").status_code in (401, 403)


@pytest.mark.parametrize("ttl", ["0", "a month", "-5"])
def test_a_wrong_token_ttl_stops_the_process_at_start_up(ttl):
    run = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, env={**os.environ, "TOKEN_TTL": ttl},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 1
    assert run.stderr.strip().startswith("likefeed: TOKEN_TTL ") and "Traceback" not in run.stderr
