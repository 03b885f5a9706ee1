"""``manage.py recount_likes [--fix]``: report (and repair) like counters that drifted."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from likes.counters import like_counts_recount


class Command(BaseCommand):
    help = "Compare every post's like_count with its like rows; --fix repairs the drift."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--fix", action="store_true", help="repair the drifted counters")

    def handle(self, *args: Any, fix: bool, **options: Any) -> None:
        report = like_counts_recount(fix=fix)
        for post_id, was, truth in report.drifted:
            self.stdout.write(f"post {post_id}: like_count {was}, like rows {truth}")
        verdict = "fixed" if report.fixed else ("found" if report.drifted else "no drift")
        self.stdout.write(
            f"checked {report.checked_posts} posts: {len(report.drifted)} drifted ({verdict})"
        )
