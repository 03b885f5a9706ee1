"""The ops view (``/ops/``, ``/ops/json/``) and ``/metrics``, against the live stack.

Every figure is made to move by real traffic or by a real broker operation (a worker told
to stop consuming a queue), then read back as the page reads it.
"""

from __future__ import annotations

import contextlib
import os
import time
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import PASSWORD, wait_until
from tests.ws import ws_connect


@pytest.fixture
def staff(live_server_url, make_user):
    """An httpx client logged in (session cookie) as a staff member."""
    from social.models import User

    person = make_user()
    User.objects.filter(pk=person["id"]).update(is_staff=True)
    client = httpx.Client(base_url=live_server_url, timeout=30)
    answer = client.post(
        "/api/auth/login/", json={"username": person["username"], "password": PASSWORD}
    )
    assert answer.status_code == 200
    yield client
    client.close()


def snapshot(staff):
    answer = staff.get("/ops/json/")
    assert answer.status_code == 200, answer.text
    return answer.json()


def snapshot_when(staff, condition, timeout=30.0):
    """The first snapshot that meets the condition (the page refreshes; so do we)."""

    def met():
        snap = snapshot(staff)
        return snap if condition(snap) else None

    return wait_until(met, timeout=timeout, interval=0.3)


def test_the_ops_view_is_for_staff_only(live_server_url, make_user, api, staff):
    anonymous = httpx.get(f"{live_server_url}/ops/", follow_redirects=False)
    assert anonymous.status_code == 302 and "/admin/login/" in anonymous.headers["location"]
    person = make_user()
    client = httpx.Client(base_url=live_server_url)
    client.post("/api/auth/login/", json={"username": person["username"], "password": PASSWORD})
    assert client.get("/ops/", follow_redirects=False).status_code == 302
    assert client.get("/ops/json/").status_code == 403
    assert httpx.get(f"{live_server_url}/ops/json/").status_code == 403
    page = staff.get("/ops/")
    assert page.status_code == 200 and "Likefeed ops" in page.text and "/ops/json/" in page.text
    # A script sends a token: a staff member's opens the JSON, anyone else's does not.
    assert api(person).get("/ops/json/").status_code == 403
    assert api(person).get("/ops/json/", headers={"Authorization": "Token nope"}).status_code == 403


def test_a_staff_members_token_opens_the_json(make_user, api):
    from social.models import User

    person = make_user()
    User.objects.filter(pk=person["id"]).update(is_staff=True)
    answer = api(person).get("/ops/json/")
    assert answer.status_code == 200 and "queues" in answer.json()


def test_every_queue_is_listed_with_the_workers_consuming_it(staff):
    snap = snapshot(staff)
    assert set(snap["queues"]) == {"fanout", "fanout_bulk", "mail"}
    for name, queue in snap["queues"].items():
        assert len(queue["workers"]) == 1, (name, queue)
    assert snap["workers_alive"] == 3
    broker = os.environ.get("CELERY_BROKER_URL") or os.environ["REDIS_URL"]
    assert snap["broker"] == urlsplit(broker).scheme  # CI runs this on Redis and on RabbitMQ


def mail_pipeline_idle(staff, mail_worker: str) -> bool:
    from config.celery import app

    snap = snapshot(staff)
    if snap["fanout_owed"] or any(q["depth"] for q in snap["queues"].values()):
        return False
    inspect = app.control.inspect(destination=[mail_worker], timeout=2)
    held = [inspect.active(), inspect.reserved(), inspect.scheduled()]
    return all(answer and not answer.get(mail_worker) for answer in held)


def mail_pipeline_stays_idle(staff, mail_worker: str) -> bool:
    if not mail_pipeline_idle(staff, mail_worker):
        return False
    time.sleep(0.5)
    return mail_pipeline_idle(staff, mail_worker)


def test_queue_depth_counts_what_waits_while_no_worker_consumes(staff):
    """Tell the mail worker to stop consuming its queue (a broker-level cancel), queue
    mails, and watch them wait; let it consume again and watch the queue drain."""
    from config.celery import app
    from notifications.tasks import send_like_mail

    mail_worker = snapshot(staff)["queues"]["mail"]["workers"][0]
    # An earlier test's mail still on its way would be counted here (CI once read depth 1):
    # a fan-out finishing queues one, and py-amqp hands a message RabbitMQ delivered to the
    # consumer just cancelled back to the queue (basic_reject with requeue). So the test
    # starts once no like is owed a fan-out, no queue holds anything and the mail worker
    # holds no mail, in two looks half a second apart (a fan-out marks its likes done just
    # before it queues their mail).
    wait_until(lambda: mail_pipeline_stays_idle(staff, mail_worker), timeout=60, interval=0.3)
    app.control.cancel_consumer("mail", destination=[mail_worker], reply=True)
    try:
        stopped = snapshot_when(staff, lambda s: not s["queues"]["mail"]["workers"])
        assert stopped["queues"]["mail"]["depth"] == 0
        for _ in range(3):
            send_like_mail.delay(0)  # no post 0: the task does nothing when it runs
        waiting = snapshot_when(staff, lambda s: s["queues"]["mail"]["depth"] == 3)
        assert waiting["queues"]["fanout"]["depth"] == 0
    finally:
        app.control.add_consumer("mail", destination=[mail_worker], reply=True)
    snapshot_when(
        staff, lambda s: s["queues"]["mail"]["depth"] == 0 and s["queues"]["mail"]["workers"]
    )


def test_likes_and_fan_out_entries_are_counted_and_rated(make_user, api, staff):
    author, liker = make_user(), make_user()
    followers = [make_user() for _ in range(3)]
    for f in followers:
        api(f).put(f"/api/users/{liker['username']}/follow/")
    posts = [api(author).post("/api/posts/", json={"body": f"p{i}"}).json() for i in range(2)]
    # A rate is the difference between this process's snapshots at most RATE_WINDOW_S apart,
    # so the snapshot before the likes is taken right before them, and from then on the
    # test polls as the page does.
    before = snapshot(staff)
    for post in posts:
        api(liker).post(f"/api/posts/{post['id']}/like/")

    # The fan-outs write 3 x 2 entries within a second; PostgreSQL publishes the like rows
    # in its table statistics up to ~10 s later when idle, by which time the entries' burst
    # may have left the window: each rate is seen moving in its own snapshot.
    moved: dict[str, dict] = {}

    def both_moved():
        snap = snapshot(staff)
        if snap["likes_total"] >= before["likes_total"] + 2 and snap["likes_per_s"]:
            moved.setdefault("likes", snap)
        if (
            snap["fanout_entries_total"] >= before["fanout_entries_total"] + 6
            and snap["fanout_entries_per_s"]
        ):
            moved.setdefault("entries", snap)
        return len(moved) == 2

    wait_until(both_moved, timeout=60, interval=0.3)
    assert moved["likes"]["likes_per_s"] > 0
    assert moved["entries"]["fanout_entries_per_s"] > 0


def test_fan_out_lag_is_the_age_of_the_oldest_owed_like(make_user, api, staff):
    from datetime import timedelta

    from django.utils import timezone

    from feed.tasks import sweep_owed_fanouts
    from likes.models import Like

    author, liker = make_user(), make_user()
    post = api(author).post("/api/posts/", json={"body": "x"}).json()
    # A like stored five minutes ago whose fan-out never ran (lost with a broker outage).
    Like.objects.create(
        user_id=liker["id"], post_id=post["id"], created_at=timezone.now() - timedelta(minutes=5)
    )
    lagging = snapshot_when(staff, lambda s: s["fanout_owed"] >= 1)
    assert lagging["fanout_lag_s"] >= 300
    sweep_owed_fanouts.delay()
    caught_up = snapshot_when(staff, lambda s: s["fanout_owed"] == 0)
    assert caught_up["fanout_lag_s"] == 0


def test_open_sockets_are_counted_while_open(live_stack, make_user, staff):
    before = snapshot(staff)["open_sockets"]
    people = [make_user() for _ in range(2)]
    with contextlib.ExitStack() as sockets:
        for person in people:
            sockets.enter_context(ws_connect(live_stack.ws_url, token=person["token"]))
        snapshot_when(staff, lambda s: s["open_sockets"] == before + 2)
    snapshot_when(staff, lambda s: s["open_sockets"] == before)


def test_metrics_are_served_in_prometheus_format(live_server_url):
    answer = httpx.get(f"{live_server_url}/metrics", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    for line in (
        'likefeed_queue_depth{queue="fanout"}',
        'likefeed_queue_workers{queue="mail"} 1.0',
        "likefeed_workers_alive 3.0",
        "likefeed_fanout_lag_seconds",
        "likefeed_likes_stored_total",
        "likefeed_fanout_entries_total",
        "likefeed_open_sockets",
        "process_resident_memory_bytes",
    ):
        assert line in text, line
