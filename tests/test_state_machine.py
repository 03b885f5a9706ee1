"""A hypothesis state machine over the live stack: several users post, like, unlike, follow
and unfollow (some of it concurrently), and after every step the system agrees with a model.

The model is a few sets: who follows whom, who likes which post, and which posts were placed
in each feed (a post's writing places it in its author's and their followers' feeds, a like
in the liker's followers', a follow backfills the followee's posts); an item stays while
something keeps it (CONTRACT "Home feed": one's own post, a followed author, a followed
liker). The invariants, checked after every step:

- every ``like_count`` (in the answer, in PostgreSQL, and as rendered) equals the model's;
- every like row is counted once: rows == ``like_count`` for every post;
- once the fan-out is quiet, each user's feed holds exactly the model's posts, each once,
  with ``kind``, ``likers``, ``likers_count``, ``liked_by_me`` and ``like_count`` as the
  model says.

Runs through HTTP against real uvicorn and Celery processes; users are reused across
examples (registering is slow), and every example starts from a follow graph of its own
(drawn by hypothesis) and only looks at the posts it made itself.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    MultipleResults,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

from likes.models import Like
from social.models import Post
from tests.conftest import wait_until

USERS = 3
EXAMPLES = int(os.environ.get("STATE_MACHINE_EXAMPLES", "15"))
STEPS = int(os.environ.get("STATE_MACHINE_STEPS", "15"))

# (kind, actor id or "a liker", post id, liker ids, likers_count), liked_by_me, like_count
FeedKey = tuple[str, int | str, int, tuple[int, ...], int]


class Likefeed(RuleBasedStateMachine):
    users: list[dict[str, Any]]  # set by the test: the same accounts for every example
    base_url: str

    posts = Bundle("posts")

    def __init__(self) -> None:
        super().__init__()
        self.clients = [
            httpx.Client(
                base_url=self.base_url, headers={"Authorization": f"Token {u['token']}"}, timeout=30
            )
            for u in self.users
        ]
        self.follows: set[tuple[int, int]] = set()  # (follower index, followee index)
        self.likes: dict[int, set[int]] = {}  # post id -> liker indexes
        self.authors: dict[int, int] = {}  # post id -> author index
        self.versions: dict[int, int] = {}  # post id -> the likes_version last answered
        self.placed: dict[int, set[int]] = {u: set() for u in range(USERS)}  # user -> posts

    def teardown(self) -> None:
        for client in self.clients:
            client.close()

    def uid(self, index: int) -> int:
        return int(self.users[index]["id"])

    @initialize(
        target=posts,
        follows=st.sets(st.tuples(st.integers(0, USERS - 1), st.integers(0, USERS - 1))),
        authors=st.lists(st.integers(0, USERS - 1), min_size=1, max_size=3),
    )
    def start(self, follows: set[tuple[int, int]], authors: list[int]) -> MultipleResults[int]:
        """A fresh follow graph and a few posts, so that every step has something to act on."""
        for a in range(USERS):
            for b in range(USERS):
                if a != b:
                    answer = self.clients[a].delete(
                        f"/api/users/{self.users[b]['username']}/follow/"
                    )
                    assert answer.status_code == 200, answer.text
        for follower, followee in follows:
            self.follow(follower, followee)
        return multiple(*(self.publish(author) for author in authors))

    # --- steps ------------------------------------------------------------------------------

    @rule(target=posts, author=st.integers(0, USERS - 1))
    def post(self, author: int) -> int:
        return self.publish(author)

    def publish(self, author: int) -> int:
        answer = self.clients[author].post("/api/posts/", json={"body": f"post by {author}"})
        assert answer.status_code == 201, answer.text
        post_id = int(answer.json()["id"])
        self.authors[post_id], self.likes[post_id] = author, set()
        for user in (author, *self.followers(author)):
            self.placed[user].add(post_id)
        return post_id

    def version_moved(self, post: int, body: dict, *, changed: bool) -> dict:
        """The answer's likes_version grew if the request changed a like (never went back
        otherwise); the rest of the answer is returned for an exact comparison."""
        version = body.pop("likes_version")
        last = self.versions.get(post, 0)
        assert version > last if changed else version >= last, (post, last, version, changed)
        self.versions[post] = version
        return body

    def followers(self, user: int) -> list[int]:
        return [f for f, b in self.follows if b == user]

    def kept(self, user: int, post: int) -> bool:
        """Something keeps the post in the user's feed: theirs, a followed author or liker."""
        author = self.authors[post]
        return (
            user == author
            or (user, author) in self.follows
            or any((user, liker) in self.follows for liker in self.likes[post])
        )

    def prune(self) -> None:
        """What unlikes and unfollows take out: every item nothing keeps any more."""
        for user, posts in self.placed.items():
            self.placed[user] = {p for p in posts if self.kept(user, p)}

    @rule(user=st.integers(0, USERS - 1), post=posts)
    def like(self, user: int, post: int) -> None:
        answer = self.clients[user].post(f"/api/posts/{post}/like/")
        changed = user not in self.likes[post]
        if changed:
            self.likes[post].add(user)
            for follower in self.followers(user):
                self.placed[follower].add(post)
        assert self.version_moved(post, answer.json(), changed=changed) == {
            "post_id": post,
            "liked": True,
            "like_count": len(self.likes[post]),
        }

    @rule(user=st.integers(0, USERS - 1), post=posts)
    def unlike(self, user: int, post: int) -> None:
        answer = self.clients[user].delete(f"/api/posts/{post}/like/")
        changed = user in self.likes[post]
        self.likes[post].discard(user)
        self.prune()
        assert self.version_moved(post, answer.json(), changed=changed) == {
            "post_id": post,
            "liked": False,
            "like_count": len(self.likes[post]),
        }

    @rule(users=st.sets(st.integers(0, USERS - 1), min_size=2), post=posts, like=st.booleans())
    def many_at_once(self, users: set[int], post: int, like: bool) -> None:
        """Several users like (or unlike) one post at the same moment, each twice."""
        method = "POST" if like else "DELETE"

        def send(user: int) -> int:
            return self.clients[user].request(method, f"/api/posts/{post}/like/").status_code

        with ThreadPoolExecutor(2 * len(users)) as pool:
            assert set(pool.map(send, [*users, *users])) == {200}
        for user in users:
            if like and user not in self.likes[post]:
                self.likes[post].add(user)
                for follower in self.followers(user):
                    self.placed[follower].add(post)
            elif not like:
                self.likes[post].discard(user)
        self.prune()

    @rule(follower=st.integers(0, USERS - 1), followee=st.integers(0, USERS - 1))
    def follow(self, follower: int, followee: int) -> None:
        answer = self.clients[follower].put(
            f"/api/users/{self.users[followee]['username']}/follow/"
        )
        if follower == followee:
            assert answer.status_code == 400
            return
        assert answer.json() == {"following": True}
        self.follows.add((follower, followee))  # past likes are not backfilled, posts are
        self.placed[follower] |= {p for p, a in self.authors.items() if a == followee}

    @rule(follower=st.integers(0, USERS - 1), followee=st.integers(0, USERS - 1))
    def unfollow(self, follower: int, followee: int) -> None:
        name = self.users[followee]["username"]
        answer = self.clients[follower].delete(f"/api/users/{name}/follow/")
        assert answer.json() == {"following": False}
        self.follows.discard((follower, followee))
        self.prune()  # what the followee wrote or liked goes, unless something else keeps it

    @rule(post=consumes(posts))
    def forget(self, post: int) -> None:
        """Stop using a post (keeps the number of live posts small)."""

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def counts_equal_rows_and_the_model(self) -> None:
        if not self.likes:
            return
        counts = dict(Post.objects.filter(pk__in=self.likes).values_list("pk", "like_count"))
        rows = Counter(
            Like.objects.filter(post_id__in=self.likes).values_list("post_id", flat=True)
        )
        for post, likers in self.likes.items():
            assert counts[post] == rows[post] == len(likers), (post, counts[post], rows[post])
            assert set(Like.objects.filter(post_id=post).values_list("user_id", flat=True)) == {
                self.uid(u) for u in likers
            }

    @invariant()
    def feeds_match_the_model_once_quiet(self) -> None:
        for user in range(USERS):
            expected = self.expected_feed(user)
            wait_until(lambda: self.feed(user) == expected, timeout=20)  # noqa: B023

    def expected_feed(self, user: int) -> list[tuple[FeedKey, bool, int]]:
        expected = []
        for post in self.placed[user]:
            if not self.kept(user, post):
                continue
            author = self.authors[post]
            likers = sorted(self.uid(u) for u in self.likes[post] if (user, u) in self.follows)
            own = user == author or (user, author) in self.follows
            key: FeedKey = (
                "post" if own else "like",
                self.uid(author) if own else "a liker",
                post,
                tuple(likers),
                len(likers),
            )
            expected.append((key, user in self.likes[post], len(self.likes[post])))
        return sorted(expected, key=repr)

    def feed(self, user: int) -> list[tuple[FeedKey, bool, int]]:
        """This example's items in the user's feed: (kind, actor, post, likers, likers_count),
        liked_by_me, count. A "like" item's actor must be the newest of its likers (which one
        that is the model does not track: "a liker")."""
        items = self.clients[user].get("/api/feed/", params={"limit": 100}).json()["items"]
        found = []
        for i in items:
            if i["post"]["id"] not in self.authors:
                continue
            likers = [u["id"] for u in i["likers"]]
            actor = i["actor"]["id"]
            if i["kind"] == "like" and likers and actor == likers[0]:
                actor = "a liker"
            key: FeedKey = (i["kind"], actor, i["post"]["id"], tuple(sorted(likers)),
                            i["likers_count"])  # fmt: skip
            found.append((key, i["post"]["liked_by_me"], i["post"]["like_count"]))
        return sorted(found, key=repr)


@pytest.mark.timeout(900)
def test_likes_follows_and_feeds_agree_with_the_model(make_user, live_server_url):
    # exempt-…: hundreds of likes a minute by one account are the point here, not abuse.
    Likefeed.users = [make_user(f"exempt-sm{i}-{uuid.uuid4().hex[:6]}") for i in range(USERS)]
    Likefeed.base_url = live_server_url
    run_state_machine_as_test(
        Likefeed,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            database=None,  # no example database written into the work tree
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
