"""The like hot path: contract, idempotency and concurrency, against the live server."""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor

import httpx

from likes.models import Like
from social.models import Post


def count_rows(post_id: int) -> tuple[int, int]:
    """(like rows, like_count) straight from PostgreSQL."""
    return Like.objects.filter(post_id=post_id).count(), Post.objects.get(pk=post_id).like_count


def test_like_answers_the_new_count_and_is_idempotent(make_user, api):
    alice, bob = make_user(), make_user()
    post = api(alice).post("/api/posts/", json={"body": "like me"}).json()
    first = api(bob).post(f"/api/posts/{post['id']}/like/")
    assert first.status_code == 200
    assert first.json() == {"post_id": post["id"], "liked": True, "like_count": 1,
                            "likes_version": 1}  # fmt: skip
    assert api(bob).post(f"/api/posts/{post['id']}/like/").json() == first.json()
    assert api(bob).get(f"/api/posts/{post['id']}/").json()["liked_by_me"] is True
    assert api(alice).get(f"/api/posts/{post['id']}/").json()["liked_by_me"] is False
    assert count_rows(post["id"]) == (1, 1)


def test_unlike_answers_the_new_count_and_is_idempotent(make_user, api):
    alice, bob = make_user(), make_user()
    post = api(alice).post("/api/posts/", json={"body": "like me"}).json()
    api(bob).post(f"/api/posts/{post['id']}/like/")
    for _ in range(2):  # the second changes nothing: the same answer, the same version
        answer = api(bob).delete(f"/api/posts/{post['id']}/like/")
        assert answer.json() == {"post_id": post["id"], "liked": False, "like_count": 0,
                                 "likes_version": 2}  # fmt: skip
    assert count_rows(post["id"]) == (0, 0)


def test_like_of_unknown_post_is_404_json(make_user, api):
    bob = make_user()
    for method in ("post", "delete"):
        answer = getattr(api(bob), method)("/api/posts/987654321/like/")
        assert answer.status_code == 404
        assert answer.json()["detail"] == "post 987654321 does not exist"


def test_like_needs_authentication(make_user, api, live_server_url):
    alice = make_user()
    post = api(alice).post("/api/posts/", json={"body": "x"}).json()
    answer = httpx.post(f"{live_server_url}/api/posts/{post['id']}/like/")
    assert answer.status_code in (401, 403) and answer.json()["detail"]


def test_forty_concurrent_likes_by_one_user_store_one_row(make_user, api, live_server_url):
    alice, bob = make_user(), make_user()
    post = api(alice).post("/api/posts/", json={"body": "race"}).json()

    def like(_: int) -> dict:
        with httpx.Client(
            base_url=live_server_url, headers={"Authorization": f"Token {bob['token']}"}
        ) as c:
            return c.post(f"/api/posts/{post['id']}/like/").json()

    with ThreadPoolExecutor(40) as pool:
        answers = list(pool.map(like, range(40)))
    expected = {"post_id": post["id"], "liked": True, "like_count": 1, "likes_version": 1}
    assert [a for a in answers if a != expected] == []
    assert count_rows(post["id"]) == (1, 1)


def test_a_like_unlike_storm_converges_to_the_truth(make_user, api, live_server_url):
    alice = make_user()
    users = [make_user() for _ in range(8)]
    post = api(alice).post("/api/posts/", json={"body": "storm"}).json()
    rng = random.Random(7)
    plan = [(u, rng.choice(["post", "delete"])) for u in users for _ in range(12)]
    rng.shuffle(plan)

    def act(step: tuple[dict, str]) -> int:
        user, method = step
        with httpx.Client(
            base_url=live_server_url, headers={"Authorization": f"Token {user['token']}"}
        ) as c:
            return c.request(method.upper(), f"/api/posts/{post['id']}/like/").status_code

    with ThreadPoolExecutor(16) as pool:
        assert set(pool.map(act, plan)) == {200}
    rows, count = count_rows(post["id"])
    assert rows == count
    assert api(alice).get(f"/api/posts/{post['id']}/").json()["like_count"] == rows
