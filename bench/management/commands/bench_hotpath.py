"""``manage.py bench_hotpath --settings bench.settings``: what one like costs in the service
layer, side by side.

Runs ``likes.services.like_create`` (one SQL statement) and the textbook version
(``bench.textbook``) in alternating rounds in one process, on fresh (user, post) pairs, with
everything queued after commit (the fan-out's ``.delay()``) replaced by nothing on both sides
(this measures the database path; the broker send is the same for both). Prints µs per like
and the ratio. Works in a throwaway set of users/posts that it deletes afterwards.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any
from unittest import mock

from django.core.management.base import BaseCommand, CommandParser

from bench import textbook
from likes import services
from social.models import Post, User


class Command(BaseCommand):
    help = "Measure one like through the service vs the textbook get_or_create, side by side."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--likes", type=int, default=2000, help="likes per side per round")
        parser.add_argument("--rounds", type=int, default=5)

    def handle(self, *args: Any, likes: int, rounds: int, **options: Any) -> None:
        users = User.objects.bulk_create(
            [User(username=f"bench-hotpath-{i}") for i in range(2 * likes * rounds)]
        )
        author = users[0]
        posts = Post.objects.bulk_create([Post(author=author, body="bench") for _ in range(2)])
        sides: dict[str, list[float]] = {"one statement": [], "textbook": []}
        calls: dict[str, Callable[..., Any]] = {
            "one statement": services.like_create,
            "textbook": textbook.textbook_like_create,
        }
        try:
            with mock.patch("django.db.transaction.on_commit"):
                pairs = iter(users)
                for _ in range(rounds):
                    for (name, call), post in zip(calls.items(), posts, strict=True):
                        started = time.perf_counter()
                        for _ in range(likes):
                            call(user_id=next(pairs).pk, post_id=post.pk)
                        sides[name].append((time.perf_counter() - started) / likes * 1e6)
        finally:
            Post.objects.filter(pk__in=[p.pk for p in posts]).delete()
            User.objects.filter(username__startswith="bench-hotpath-").delete()
        best = {name: statistics.median(values) for name, values in sides.items()}
        for name, value in best.items():
            self.stdout.write(f"{name:>14}: {value:8.0f} µs per like (median of {rounds} rounds)")
        ratio = best["textbook"] / best["one statement"]
        self.stdout.write(f"{'ratio':>14}: textbook / one statement = {ratio:.2f}x")
