"""``manage.py seed_demo``: a few users who follow each other, posts and likes.

Goes through the services, so the demo's feeds are filled by the real fan-out once the
workers run. Idempotent: does nothing when the demo users exist.

``--staff-password``: also the staff login for ``/admin/`` and ``/ops/`` (``admin``, staff
and superuser, following nobody and never suggested to follow), its password set to the one
given on every run, so the login ``make run`` prints (config/run.py keeps it in
``var/run/staff_password``) is the one that works. It lives in ``ops``, the
top layer, because it uses every app (in ``feed`` it made feed import likes).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from feed import services as feed_services
from likes import services as likes_services
from notifications import services as notifications_services
from social import services as social_services
from social.models import User

DEMO_PASSWORD = "likefeed-demo"
DEMO_USERS = ["alice", "bob", "carol", "dave"]
STAFF_USERNAME = "admin"
DEMO_POSTS = {
    "alice": ["Hello, Likefeed! ❤ the first post.", "Fan-out on write: one Lua call per chunk."],
    "bob": ["Celery queues by task length: short ones never wait behind long ones."],
    "carol": ["Watching my feed update live over a WebSocket."],
    "dave": ["Load-testing the like endpoint later today."],
}


class Command(BaseCommand):
    help = "Create the demo users (password: likefeed-demo), follows, posts and likes."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--staff-password",
            help=f"also create (or reset) the staff login {STAFF_USERNAME!r} with this password",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if User.objects.filter(username=DEMO_USERS[0]).exists():
            self.stdout.write("demo already seeded")
        else:
            self._seed()
        self.stdout.write(f"demo logins: {', '.join(DEMO_USERS)} (password: {DEMO_PASSWORD})")
        password = options["staff_password"]
        if password and self._staff(password):
            self.stdout.write(
                f"staff login for /admin/ and /ops/: {STAFF_USERNAME} (password: {password})"
            )

    def _staff(self, password: str) -> bool:
        user = User.objects.filter(username=STAFF_USERNAME).first()
        if user is None:
            user = social_services.user_create(username=STAFF_USERNAME, password=password)[0]
        elif not user.is_staff:  # someone signed up with the name: never promote them
            self.stderr.write(f"seed_demo: {STAFF_USERNAME!r} is someone's account; no staff login")
            return False
        user.is_staff = user.is_superuser = user.is_active = True
        user.set_password(password)
        user.save()
        return True

    def _seed(self) -> None:
        users = {
            name: social_services.user_create(username=name, password=DEMO_PASSWORD)[0]
            for name in DEMO_USERS
        }
        for name, user in users.items():  # their like mails go where EMAIL_URL says (console)
            notifications_services.mail_preferences_update(user=user, email=f"{name}@example.com")
        for name, user in users.items():
            for other_name, other in users.items():
                if other_name != name and not (name == "dave" and other_name == "carol"):
                    feed_services.follow(follower=user, followee=other)
        posts = [
            feed_services.post_publish(author=users[name], body=body)
            for name, bodies in DEMO_POSTS.items()
            for body in bodies
        ]
        for i, post in enumerate(posts):
            for j, user in enumerate(users.values()):
                if user.pk != post.author_id and (i + j) % 2 == 0:
                    likes_services.like_create(user_id=user.pk, post_id=post.pk)
