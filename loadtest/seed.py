"""Seed a realistic graph fast: users, power-law follower counts, posts, API tokens.

Straight into PostgreSQL with ``COPY`` (a million users take seconds; registering them
through the API would hash a million passwords). Seeded accounts have an unusable password
and a random API token; their usernames start with the graph's prefix (``lt<users>-``), so
graphs of different sizes live side by side and a graph already seeded is reused.

Follower counts follow a Zipf law: user ``i`` (0-based, in seeding order) is picked as a
followee with weight ``1 / (i + 1)``, so user 0 is followed by most of the graph, a few
more by large fractions of it, and most users by a handful: the shape of real social
graphs (and the case a fan-out must survive). ``celebrity_followers`` adds one account
followed by that many users (the graph's first ones), for the million-follower figure.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from django.utils import timezone
from tqdm import tqdm

from social.tokens import live_since, token_digest

UNUSABLE_PASSWORD = "!seeded-for-load-tests"
COPY_BATCH = 50_000


@dataclass(frozen=True)
class GraphSpec:
    users: int = 10_000
    posts: int = 20_000
    follows_per_user: int = 20
    tokens: int = 5_000  # API tokens for the first users (the ones a load test acts as)
    celebrity_followers: int = 0
    seed: int = 1

    @property
    def prefix(self) -> str:
        return f"lt{self.users}-"

    @property
    def celebrity(self) -> str:
        return f"{self.prefix}celebrity-{self.celebrity_followers}"


@dataclass(frozen=True)
class Graph:
    """What a load test needs to know of a seeded graph: ids and tokens, by seeding order."""

    spec: GraphSpec
    user_ids: list[int]
    tokens: list[str]  # tokens[i] belongs to user_ids[i]
    post_ids: list[int]
    celebrity_id: int | None
    celebrity_token: str | None


def _copy(table: str, columns: str, rows: Iterable[str], total: int, label: str) -> None:
    """COPY tab-separated rows into a table, in batches, with a progress bar."""
    with connection.cursor() as cursor, tqdm(total=total, desc=label, unit=" rows") as bar:
        raw = cursor.cursor  # psycopg's own cursor (Django's wraps it)
        for batch in _batched(rows, COPY_BATCH):
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write("".join(batch))
            bar.update(len(batch))


def _batched(rows: Iterable[str], n: int) -> Iterator[list[str]]:
    batch: list[str] = []
    for row in rows:
        batch.append(row)
        if len(batch) == n:
            yield batch
            batch = []
    if batch:
        yield batch


def _scalar(sql: str, params: list[Any]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return int(cursor.fetchone()[0] or 0)


def _ids(sql: str, params: list[Any]) -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]


def _seeded(spec: GraphSpec) -> bool:
    users = _scalar(
        "SELECT count(*) FROM social_user WHERE username LIKE %s AND username NOT LIKE %s",
        [spec.prefix + "%", spec.prefix + "celebrity-%"],
    )
    posts = _scalar(
        "SELECT count(*) FROM social_post p JOIN social_user u ON u.id = p.author_id "
        "WHERE u.username LIKE %s",
        [spec.prefix + "%"],
    )
    return users == spec.users and posts == spec.posts


def delete_graph(prefix: str) -> None:
    """Remove every row of a graph (a partial seeding, or a graph no longer wanted)."""
    users = "SELECT id FROM social_user WHERE username LIKE %s"
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM likes_like WHERE user_id IN ({users})", [prefix + "%"])
        cursor.execute(
            f"DELETE FROM likes_like WHERE post_id IN (SELECT id FROM social_post "
            f"WHERE author_id IN ({users}))",
            [prefix + "%"],
        )
        cursor.execute(
            f"DELETE FROM social_follow WHERE follower_id IN ({users}) OR followee_id IN ({users})",
            [prefix + "%", prefix + "%"],
        )
        cursor.execute(f"DELETE FROM social_post WHERE author_id IN ({users})", [prefix + "%"])
        cursor.execute(f"DELETE FROM social_apitoken WHERE user_id IN ({users})", [prefix + "%"])
        cursor.execute("DELETE FROM social_user WHERE username LIKE %s", [prefix + "%"])


def _seed_users(spec: GraphSpec) -> list[int]:
    rows = (
        f"{UNUSABLE_PASSWORD}\tf\t{spec.prefix}{i}\t\t\t\tf\tt\tnow()\n" for i in range(spec.users)
    )
    _copy(
        "social_user",
        "password, is_superuser, username, first_name, last_name, email, is_staff, is_active, "
        "date_joined",
        (r.replace("now()", "2026-01-01 00:00:00+00") for r in rows),
        spec.users,
        "users",
    )
    return _user_ids(spec)


def _user_ids(spec: GraphSpec) -> list[int]:
    """The graph's user ids in seeding order (the number after the prefix)."""
    rows = _ids(
        "SELECT id FROM social_user WHERE username LIKE %s AND username NOT LIKE %s "
        "ORDER BY substring(username FROM %s)::int",
        [spec.prefix + "%", spec.prefix + "celebrity-%", len(spec.prefix) + 1],
    )
    return rows


def _follow_pairs(spec: GraphSpec, rng: np.random.Generator) -> np.ndarray:
    """(follower index, followee index) pairs, unique, no self-follows, Zipf in-degrees."""
    n = spec.users
    weights = 1.0 / np.arange(1, n + 1)
    weights /= weights.sum()
    per_user = rng.poisson(spec.follows_per_user, size=n)
    followers = np.repeat(np.arange(n), per_user)
    followees = rng.choice(n, size=followers.size, p=weights)
    keep = followers != followees
    codes = np.unique(followers[keep].astype(np.int64) * n + followees[keep])
    return np.stack([codes // n, codes % n], axis=1)


def seed_graph(spec: GraphSpec) -> Graph:
    """Seed ``spec`` unless it is already there; return its ids and tokens."""
    if not _seeded(spec):
        delete_graph(spec.prefix)
        rng = np.random.default_rng(spec.seed)
        ids = np.array(_seed_users(spec), dtype=np.int64)
        pairs = _follow_pairs(spec, rng)
        _copy(
            "social_follow", "follower_id, followee_id, created_at",
            (f"{ids[a]}\t{ids[b]}\t2026-01-01 00:00:00+00\n" for a, b in pairs),
            len(pairs), "follows",
        )  # fmt: skip
        weights = 1.0 / np.arange(1, spec.users + 1)
        authors = rng.choice(ids, size=spec.posts, p=weights / weights.sum())
        _copy(
            "social_post", "author_id, body, created_at, like_count",
            (
                f"{a}\tseeded post {i}\t2026-01-01 00:00:00+00\t0\n"
                for i, a in enumerate(authors)
            ),
            spec.posts, "posts",
        )  # fmt: skip
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE social_user, social_follow, social_post, social_apitoken")
    _seed_tokens(spec)
    if spec.celebrity_followers:
        _seed_celebrity(spec)
    return load_graph(spec)


def seeded_token(user_id: int) -> str:
    """A seeded account's API token, derived from its id and ``SECRET_KEY``: only a token's
    digest is stored (``social.tokens``), so a graph reused by a later run finds its tokens
    by deriving them again. Without the secret key nobody can derive them."""
    message = f"likefeed-loadtest-token:{user_id}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:40]


def _seed_tokens(spec: GraphSpec) -> None:
    """API tokens for the graph's first ``spec.tokens`` users (those that have no live one
    yet: a graph seeded for fewer tokens, or seeded longer than TOKEN_TTL ago, or with
    another ``SECRET_KEY``, is topped up)."""
    wanted = {token_digest(seeded_token(uid)): uid for uid in _user_ids(spec)[: spec.tokens]}
    have = set(_ids("SELECT user_id FROM social_apitoken WHERE digest = ANY(%s) AND created > %s",
                    [list(wanted), live_since()]))  # fmt: skip
    missing = [(digest, uid) for digest, uid in wanted.items() if uid not in have]
    with connection.cursor() as cursor:  # expired ones hold their digests (unique): they go
        cursor.execute(
            "DELETE FROM social_apitoken WHERE digest = ANY(%s)", [[d for d, _ in missing]]
        )
    created = timezone.now().isoformat()
    _copy(
        "social_apitoken", "digest, user_id, created",
        (f"{digest}\t{uid}\t{created}\n" for digest, uid in missing),
        len(missing), "tokens",
    )  # fmt: skip


def _seed_token(user_id: int) -> None:
    """The seeded token of one account, unless it has it (live) already."""
    with connection.cursor() as cursor:
        digest = token_digest(seeded_token(user_id))
        cursor.execute(  # an expired one holds the digest (unique): it goes first
            "DELETE FROM social_apitoken WHERE digest = %s AND created <= %s",
            [digest, live_since()],
        )
        cursor.execute(
            "INSERT INTO social_apitoken (digest, user_id, created) "
            "SELECT %(digest)s, %(user)s, now() WHERE NOT EXISTS (SELECT 1 FROM social_apitoken "
            "WHERE digest = %(digest)s AND created > %(since)s)",
            {"digest": digest, "user": user_id, "since": live_since()},
        )


def _seed_celebrity(spec: GraphSpec) -> None:
    """One account followed by ``celebrity_followers`` users: the graph's own users first,
    then extra follower-only accounts as needed."""
    existing = _ids("SELECT id FROM social_user WHERE username = %s", [spec.celebrity])
    if existing:
        _seed_token(existing[0])  # seeded with another SECRET_KEY or past TOKEN_TTL: top up
        return
    extra = max(0, spec.celebrity_followers - spec.users)
    extra_prefix = f"{spec.prefix}celebrity-fan-"
    _copy(
        "social_user",
        "password, is_superuser, username, first_name, last_name, email, is_staff, is_active, "
        "date_joined",
        (
            f"{UNUSABLE_PASSWORD}\tf\t{extra_prefix}{i}\t\t\t\tf\tt\t2026-01-01 00:00:00+00\n"
            for i in range(extra)
        ),
        extra,
        "celebrity's extra followers",
    )
    followers = _user_ids(spec)[: spec.celebrity_followers]
    followers += _ids("SELECT id FROM social_user WHERE username LIKE %s", [extra_prefix + "%"])
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO social_user (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined) "
            "VALUES (%s, false, %s, '', '', '', false, true, now()) RETURNING id",
            [UNUSABLE_PASSWORD, spec.celebrity],
        )
        celebrity_id = cursor.fetchone()[0]
    _seed_token(celebrity_id)
    _copy(
        "social_follow", "follower_id, followee_id, created_at",
        (f"{f}\t{celebrity_id}\t2026-01-01 00:00:00+00\n" for f in followers),
        len(followers), "celebrity's follows",
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE social_user, social_follow")


def load_graph(spec: GraphSpec) -> Graph:
    user_ids = _user_ids(spec)
    tokens = {
        uid: seeded_token(uid)
        for uid, digest in _pairs(
            "SELECT t.user_id, t.digest FROM social_apitoken t "
            "JOIN social_user u ON u.id = t.user_id WHERE u.username LIKE %s AND t.created > %s",
            [spec.prefix + "%", live_since()],
        )
        if digest == token_digest(seeded_token(uid))
    }
    with_token = [uid for uid in user_ids if uid in tokens]
    post_ids = _ids(
        "SELECT p.id FROM social_post p JOIN social_user u ON u.id = p.author_id "
        "WHERE u.username LIKE %s AND u.username NOT LIKE %s ORDER BY p.id",
        [spec.prefix + "%", spec.prefix + "celebrity-%"],
    )
    celebrity = _ids("SELECT id FROM social_user WHERE username = %s", [spec.celebrity])
    celebrity_id = celebrity[0] if celebrity and spec.celebrity_followers else None
    return Graph(
        spec=spec,
        user_ids=with_token,
        tokens=[tokens[uid] for uid in with_token],
        post_ids=post_ids,
        celebrity_id=celebrity_id,
        celebrity_token=tokens.get(celebrity_id) if celebrity_id else None,
    )


def _pairs(sql: str, params: list[Any]) -> list[tuple[int, str]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [(row[0], row[1]) for row in cursor.fetchall()]


def follower_ids_of(user_ids: Iterable[int]) -> dict[int, list[int]]:
    """Followers of each of these users (for the correctness check and the push bench)."""
    wanted = list(set(user_ids))
    result: dict[int, list[int]] = {uid: [] for uid in wanted}
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT followee_id, follower_id FROM social_follow WHERE followee_id = ANY(%s)",
            [wanted],
        )
        for followee, follower in cursor.fetchall():
            result[followee].append(follower)
    return result
