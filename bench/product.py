"""The rest of the product in ``make bench``: what a person's pages and actions cost, beside
the bare view in the same rounds (``bench.http_phase``).

``seed_product`` gives the bench graph what real pages show, for ``READERS`` accounts (the
graph's first ones, who follow its most followed accounts, as the seeding's Zipf law has
it): likes by the people they follow, a home feed of their followees' posts and of posts
their followees liked (so each feed item carries likers), twenty grouped like notifications
and a follow notification each, and a browser session (session cookie and CSRF token) for
each account that likes. ``product_endpoints`` then makes the requests, one per ``k``:

- reads by a reader's API token: ``feed`` (``GET /api/feed/``), ``profile`` and
  ``profile_posts`` (``GET /api/users/<u>/`` and ``/posts/``, the most followed authors),
  ``post`` and ``post_likes`` (``GET /api/posts/<id>/`` and ``/likes/``, liked posts),
  ``notifications`` (``GET /api/notifications/``);
- writes: ``post_create`` (``POST /api/posts/``), ``follow`` (``PUT`` and ``DELETE
  /api/users/<u>/follow/`` in turn, of the graph's least followed accounts), and
  ``cookie_like`` (a like from a browser: session cookie, CSRF token, Django's view; fresh
  pairs as the token likes).

``restore_product`` takes back what the writes changed in the graph (the posts created, the
follows), so the next run finds the graph it seeded (``loadtest.seed`` reseeds a graph
whose post count changed).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.db import connection
from django.utils import timezone
from django.utils.crypto import get_random_string

from loadtest.seed import Graph

from .httpload import MakeRequest, http_request

READERS = 200
LIKERS_PER_READER = 3  # followees of each reader who like posts
LIKES_PER_LIKER = 10
OWN_POSTS_IN_FEED = 30  # followees' posts in each reader's feed
NOTIFICATIONS_PER_READER = 20
PROFILES = 50  # the most followed authors, whose profiles are read
FOLLOW_TARGETS = 100  # the least followed accounts, followed and unfollowed
BENCH_BODY = "bench post "  # the body of every post the bench creates (removed after)


@dataclass
class Product:
    readers: list[int]  # user ids
    reader_tokens: list[str]
    profiles: list[str]  # usernames
    liked_posts: list[int]
    follow_targets: list[str]  # usernames
    follows_before: list[tuple[int, int]]  # follows to the targets, put back after
    cookies: list[tuple[str, str]]  # (session key, CSRF token) of the first likers


def _username(graph: Graph, index: int) -> str:
    return f"{graph.spec.prefix}{index}"


def seed_product(graph: Graph, *, likers: int, readers: int = READERS) -> Product:
    """Pages worth reading for the first ``readers`` accounts, sessions for the first
    ``likers``."""
    from config.redis import get_redis
    from feed import store

    n = len(graph.user_ids)
    readers_ids = graph.user_ids[: min(readers, n)]
    rng = random.Random(16)
    _remove_bench_posts()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT follower_id, array_agg(followee_id ORDER BY followee_id) FROM social_follow "
            "WHERE follower_id = ANY(%s) GROUP BY follower_id",
            [readers_ids],
        )
        followees: dict[int, list[int]] = dict(cursor.fetchall())
        cursor.execute(
            "SELECT author_id, array_agg(id ORDER BY id DESC) FROM social_post "
            "WHERE author_id = ANY(%s) GROUP BY author_id",
            [sorted({f for fs in followees.values() for f in fs})],
        )
        posts_by: dict[int, list[int]] = dict(cursor.fetchall())
        # Likes by some of each reader's followees.
        likes: dict[int, list[int]] = {}  # reader -> posts their followees liked
        rows = []
        for reader in readers_ids:
            people = followees.get(reader, [])
            for liker in rng.sample(people, min(LIKERS_PER_READER, len(people))):
                for post in rng.sample(graph.post_ids, min(LIKES_PER_LIKER, len(graph.post_ids))):
                    rows.append((liker, post, now - timedelta(minutes=rng.randrange(1, 600))))
                    likes.setdefault(reader, []).append(post)
        cursor.executemany(
            "INSERT INTO likes_like (user_id, post_id, created_at, fanned_out_at) "
            "VALUES (%s, %s, %s, now()) ON CONFLICT DO NOTHING",
            rows,
        )
        liked = sorted({post for _, post, _ in rows})
        cursor.execute(
            "UPDATE social_post p SET like_count = c.n, likes_version = p.likes_version + 1 "
            "FROM (SELECT post_id, count(*) AS n FROM likes_like WHERE post_id = ANY(%s) "
            "GROUP BY post_id) c WHERE p.id = c.post_id",
            [liked],
        )
        targets = graph.user_ids[max(0, n - FOLLOW_TARGETS) :]
        cursor.execute(
            "SELECT follower_id, followee_id FROM social_follow WHERE followee_id = ANY(%s)",
            [targets],
        )
        follows_before = [(a, b) for a, b in cursor.fetchall()]
    # Home feeds: followees' posts and the posts they liked, newest first.
    redis = get_redis()
    top = store.score_of(now)
    for reader in readers_ids:
        own = [p for f in followees.get(reader, []) for p in posts_by.get(f, [])[:3]]
        items = own[:OWN_POSTS_IN_FEED] + likes.get(reader, [])
        rng.shuffle(items)
        redis.unlink(store.feed_key(reader))
        scored = [(store.post_item_id(post_id=p), top - i * 60_000.0) for i, p in enumerate(items)]
        store.feed_add_quietly(user_id=reader, items=scored)
    _seed_notifications(readers_ids, graph, rng)
    cookies = _sessions(graph.user_ids[:likers])
    return Product(
        readers=readers_ids,
        reader_tokens=graph.tokens[: len(readers_ids)],
        profiles=[_username(graph, i) for i in range(min(PROFILES, n))],
        liked_posts=liked or graph.post_ids,
        follow_targets=[_username(graph, i) for i in range(max(0, n - FOLLOW_TARGETS), n)],
        follows_before=follows_before,
        cookies=cookies,
    )


def _seed_notifications(readers: list[int], graph: Graph, rng: random.Random) -> None:
    """Each reader: grouped like notifications of their own posts (or any, for the many
    who wrote none), one to five people each, and one follow notification of three."""
    from notifications.models import Notification, NotificationActor

    Notification.objects.filter(recipient_id__in=readers).delete()
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT author_id, array_agg(id) FROM social_post WHERE author_id = ANY(%s) "
            "GROUP BY author_id",
            [readers],
        )
        own: dict[int, list[int]] = dict(cursor.fetchall())
    groups: list[Notification] = []
    for reader in readers:
        pool = own.get(reader) or graph.post_ids
        posts = rng.sample(pool, min(NOTIFICATIONS_PER_READER, len(pool)))
        for i, post in enumerate(posts):
            groups.append(
                Notification(
                    recipient_id=reader, kind="like", post_id=post, read=i >= 5,
                    updated_at=now - timedelta(minutes=10 * i), actors_count=0,
                )
            )  # fmt: skip
        groups.append(
            Notification(recipient_id=reader, kind="follow", updated_at=now, actors_count=0)
        )
    Notification.objects.bulk_create(groups)
    actors: list[NotificationActor] = []
    for group in groups:
        people = rng.sample(graph.user_ids, min(1 + rng.randrange(5), len(graph.user_ids)))
        people = [p for p in people if p != group.recipient_id] or people[:1]
        group.actors_count = len(people)
        actors += [
            NotificationActor(notification_id=group.pk, actor_id=p, at=group.updated_at)
            for p in people
        ]
    NotificationActor.objects.bulk_create(actors)
    Notification.objects.bulk_update(groups, ["actors_count"])


def _sessions(user_ids: list[int]) -> list[tuple[str, str]]:
    """A logged-in browser session per account (what ``login`` leaves), and a CSRF token
    (the unmasked secret is what the cookie holds; a browser's script sends it back)."""
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore

    from social.models import User

    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM django_session")  # the bench's own database
    users = {u.pk: u for u in User.objects.filter(pk__in=user_ids)}
    cookies = []
    for uid in user_ids:
        session = SessionStore()
        session[SESSION_KEY] = str(uid)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = users[uid].get_session_auth_hash()
        session.create()
        assert session.session_key is not None
        cookies.append((session.session_key, get_random_string(32)))
    return cookies


def _remove_bench_posts() -> None:
    from social.models import Post

    Post.objects.filter(body__startswith=BENCH_BODY).delete()


def restore_product(product: Product) -> None:
    """Undo the writes' changes to the graph: the posts created, the follows moved."""
    from social.models import User

    _remove_bench_posts()
    targets = list(
        User.objects.filter(username__in=product.follow_targets).values_list("pk", flat=True)
    )
    with connection.cursor() as cursor:
        cursor.execute("DELETE FROM social_follow WHERE followee_id = ANY(%s)", [targets])
        cursor.executemany(
            "INSERT INTO social_follow (follower_id, followee_id, created_at) "
            "VALUES (%s, %s, '2026-01-01 00:00:00+00') ON CONFLICT DO NOTHING",
            product.follows_before,
        )


def product_endpoints(product: Product, graph: Graph, host: str) -> dict[str, MakeRequest]:
    """Request makers (``k`` -> bytes) for each endpoint of the product."""
    tokens, readers = product.reader_tokens, len(product.reader_tokens)
    auth = [{"Authorization": f"Token {t}"} for t in tokens]

    def get(path_of: Callable[[int], str]) -> MakeRequest:
        return lambda k: http_request("GET", path_of(k), host=host, headers=auth[k % readers])

    profiles, liked = product.profiles, product.liked_posts
    targets = product.follow_targets
    json_auth = [{**a, "Content-Type": "application/json"} for a in auth]

    def post_create(k: int) -> bytes:
        body = json.dumps({"body": f"{BENCH_BODY}{k}: a page of the bench"}).encode()
        return http_request("POST", "/api/posts/", host=host, headers=json_auth[k % readers],
                            body=body)  # fmt: skip

    def follow(k: int) -> bytes:
        pair = k // 2
        method = "PUT" if k % 2 == 0 else "DELETE"
        path = f"/api/users/{targets[pair % len(targets)]}/follow/"
        return http_request(method, path, host=host, headers=auth[(pair // len(targets)) % readers])

    cookies = [
        {"Cookie": f"sessionid={s}; csrftoken={c}", "X-CSRFToken": c} for s, c in product.cookies
    ]
    posts = graph.post_ids
    n = len(cookies)

    def cookie_like(k: int) -> bytes:
        # The pair formula of ``Pairs``: fresh pairs, never one a token like used.
        post = posts[(k // n + k) % len(posts)]
        return http_request("POST", f"/api/posts/{post}/like/", host=host, headers=cookies[k % n])

    return {
        "feed": get(lambda k: "/api/feed/"),
        "profile": get(lambda k: f"/api/users/{profiles[k % len(profiles)]}/"),
        "profile_posts": get(lambda k: f"/api/users/{profiles[k % len(profiles)]}/posts/"),
        "post": get(lambda k: f"/api/posts/{liked[k % len(liked)]}/"),
        "post_likes": get(lambda k: f"/api/posts/{liked[k % len(liked)]}/likes/"),
        "notifications": get(lambda k: "/api/notifications/"),
        "post_create": post_create,
        "follow": follow,
        "cookie_like": cookie_like,
    }
