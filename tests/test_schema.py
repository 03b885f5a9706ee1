"""The OpenAPI schema served at /api/schema/ describes every call of CONTRACT.md."""

from __future__ import annotations

import httpx

CONTRACT = {
    ("post", "/api/auth/register/"): "201",
    ("post", "/api/auth/login/"): "200",
    ("post", "/api/auth/logout/"): "204",
    ("get", "/api/me/"): "200",
    ("get", "/api/users/{username}/"): "200",
    ("put", "/api/users/{username}/follow/"): "200",
    ("delete", "/api/users/{username}/follow/"): "200",
    ("post", "/api/posts/"): "201",
    ("get", "/api/posts/{post_id}/"): "200",
    ("delete", "/api/posts/{post_id}/"): "204",
    ("post", "/api/posts/{post_id}/like/"): "200",
    ("delete", "/api/posts/{post_id}/like/"): "200",
    ("get", "/api/users/{username}/posts/"): "200",
    ("get", "/api/posts/{post_id}/likes/"): "200",
    ("get", "/api/feed/"): "200",
    ("get", "/api/health/"): "200",
    ("get", "/api/notifications/"): "200",
    ("post", "/api/notifications/read/"): "204",
}


def test_schema_lists_every_contract_call_with_its_success_answer(live_server_url):
    answer = httpx.get(f"{live_server_url}/api/schema/", params={"format": "json"})
    assert answer.status_code == 200
    paths = answer.json()["paths"]
    for (method, path), success in CONTRACT.items():
        assert path in paths, path
        assert method in paths[path], (method, path)
        assert success in paths[path][method]["responses"], (method, path)


def test_schema_shapes_match_the_contract(live_server_url):
    schemas = httpx.get(f"{live_server_url}/api/schema/", params={"format": "json"}).json()[
        "components"
    ]["schemas"]
    assert set(schemas["PostOut"]["properties"]) == {
        "id", "author", "body", "created_at", "like_count", "likes_version", "liked_by_me",
    }  # fmt: skip
    assert set(schemas["FeedItemOut"]["properties"]) == {
        "id",
        "kind",
        "actor",
        "post",
        "likers",
        "likers_count",
        "created_at",
    }
    assert set(schemas["LikeStateOut"]["properties"]) == {
        "post_id", "liked", "like_count", "likes_version"
    }  # fmt: skip
    assert set(schemas["FeedPageOut"]["properties"]) == {"items", "next"}
    assert set(schemas["PostPageOut"]["properties"]) == {"items", "next"}
    assert set(schemas["LikerPageOut"]["properties"]) == {"items", "next"}
    assert set(schemas["LikerOut"]["properties"]) == {"user", "liked_at"}
    assert set(schemas["NotificationOut"]["properties"]) == {
        "id", "kind", "actors", "actors_count", "post", "updated_at", "read",
    }  # fmt: skip
    assert set(schemas["NotificationPageOut"]["properties"]) == {"items", "next", "unread"}
    assert set(schemas["MeWithUnreadOut"]["properties"]) == {
        "id", "username", "followers_count", "following_count", "unread_notifications",
    }  # fmt: skip


def test_swagger_ui_is_served_without_a_cdn(live_server_url):
    page = httpx.get(f"{live_server_url}/api/docs/")
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "jsdelivr" not in page.text.lower()


def test_schema_generates_without_warnings(db):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")
