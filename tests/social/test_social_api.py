"""Users, follows and posts of CONTRACT.md, over HTTP against the live server."""

from __future__ import annotations


def test_user_profile_counts_and_is_following(make_user, api):
    alice, bob = make_user(), make_user()
    assert api(bob).put(f"/api/users/{alice['username']}/follow/").json() == {"following": True}
    profile = api(bob).get(f"/api/users/{alice['username']}/").json()
    assert profile == {
        "id": alice["id"], "username": alice["username"],
        "followers_count": 1, "following_count": 0, "is_following": True,
    }  # fmt: skip
    assert api(alice).get(f"/api/users/{alice['username']}/").json()["is_following"] is False
    assert api(bob).get("/api/me/").json()["following_count"] == 1


def test_unknown_user_is_404(make_user, api):
    user = make_user()
    assert api(user).get("/api/users/nobody-here/").status_code == 404
    assert api(user).put("/api/users/nobody-here/follow/").status_code == 404


def test_follow_is_idempotent_and_unfollow_too(make_user, api):
    alice, bob = make_user(), make_user()
    for _ in range(3):
        assert api(bob).put(f"/api/users/{alice['username']}/follow/").status_code == 200
    assert api(bob).get(f"/api/users/{alice['username']}/").json()["followers_count"] == 1
    for _ in range(2):
        answer = api(bob).delete(f"/api/users/{alice['username']}/follow/")
        assert answer.status_code == 200 and answer.json() == {"following": False}
    assert api(bob).get(f"/api/users/{alice['username']}/").json()["followers_count"] == 0


def test_following_oneself_is_400(make_user, api):
    alice = make_user()
    answer = api(alice).put(f"/api/users/{alice['username']}/follow/")
    assert answer.status_code == 400
    assert "yourself" in answer.json()["detail"]


def test_post_create_and_get(make_user, api):
    alice = make_user()
    created = api(alice).post("/api/posts/", json={"body": "hello"})
    assert created.status_code == 201
    post = created.json()
    assert set(post) == {
        "id", "author", "body", "created_at", "like_count", "likes_version", "liked_by_me"
    }  # fmt: skip
    assert post["author"] == {"id": alice["id"], "username": alice["username"]}
    assert (post["body"], post["like_count"], post["liked_by_me"]) == ("hello", 0, False)
    assert post["likes_version"] == 0
    assert api(alice).get(f"/api/posts/{post['id']}/").json() == post


def test_post_body_must_be_1_to_500_characters(make_user, api):
    alice = make_user()
    assert api(alice).post("/api/posts/", json={"body": "x" * 500}).status_code == 201
    too_long = api(alice).post("/api/posts/", json={"body": "x" * 501})
    assert too_long.status_code == 400 and "500" in too_long.json()["detail"]
    for empty in ("", "   "):
        answer = api(alice).post("/api/posts/", json={"body": empty})
        assert answer.status_code == 400 and answer.json()["detail"].startswith("body")
    assert api(alice).post("/api/posts/", json={}).status_code == 400
    assert api(alice).post("/api/posts/", json={"body": 5, "extra": 1}).status_code in (201, 400)


def test_post_fields_cannot_be_set_by_the_client(make_user, api):
    alice, bob = make_user(), make_user()
    post = (
        api(alice)
        .post("/api/posts/", json={"body": "mine", "author": bob["id"], "like_count": 99})
        .json()
    )
    assert post["author"]["id"] == alice["id"] and post["like_count"] == 0


def test_unknown_post_is_404_even_for_ids_beyond_bigint(make_user, api):
    alice = make_user()
    assert api(alice).get("/api/posts/999999999/").status_code == 404
    assert api(alice).get("/api/posts/99999999999999999999999/").status_code == 404
    assert api(alice).get("/api/posts/abc/").status_code == 404


def test_who_to_follow_lists_people_not_yet_followed(make_user, api):
    alice, bob, carol = make_user(), make_user(), make_user()
    api(carol).put(f"/api/users/{bob['username']}/follow/")
    names = [u["username"] for u in api(alice).get("/api/users/?suggested=1").json()["items"]]
    assert bob["username"] in names and alice["username"] not in names
    api(alice).put(f"/api/users/{bob['username']}/follow/")
    names = [u["username"] for u in api(alice).get("/api/users/?suggested=1").json()["items"]]
    assert bob["username"] not in names


def test_who_to_follow_never_suggests_a_staff_account(make_user, api):
    """Staff and superusers (``make run``'s admin login) run the site: even the most
    followed of them is not suggested, but can still be found and followed by name."""
    from social.models import User

    alice, staff, admin, bob, carol = (make_user() for _ in range(5))
    User.objects.filter(pk=staff["id"]).update(is_staff=True)
    User.objects.filter(pk=admin["id"]).update(is_superuser=True)
    for follower in (bob, carol):
        for account in (staff, admin):
            api(follower).put(f"/api/users/{account['username']}/follow/")
    api(carol).put(f"/api/users/{bob['username']}/follow/")
    names = [u["username"] for u in api(alice).get("/api/users/?suggested=1").json()["items"]]
    assert bob["username"] in names
    assert staff["username"] not in names and admin["username"] not in names
    answer = api(alice).put(f"/api/users/{staff['username']}/follow/")
    assert answer.json() == {"following": True}
