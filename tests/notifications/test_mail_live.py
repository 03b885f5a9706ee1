"""The like mail through the whole stack: HTTP like → fan-out worker → debounce window →
mail worker on its own queue → a real SMTP server (``smtp_sink``).

The suite's stack mails a burst of likes within ``LIKE_MAIL_DEBOUNCE_S`` = 3 s as one mail
(tests/environment.py).
"""

from __future__ import annotations

import statistics
import uuid

import httpx

from tests.conftest import wait_until
from tests.ws import receive_until, ws_connect


def author_with_address(make_user, api, **prefs):
    author = make_user()
    address = f"{author['username']}-{uuid.uuid4().hex[:6]}@example.com"
    answer = api(author).patch("/api/me/notifications/", json={"email": address, **prefs})
    assert answer.status_code == 200, answer.text
    return author, address


def test_a_burst_of_likes_sends_one_mail_and_a_later_like_its_own(
    make_user, api, smtp_sink, live_server_url
):
    author, address = author_with_address(make_user, api)
    post = api(author).post("/api/posts/", json={"body": "mail me"}).json()
    likers = [make_user() for _ in range(4)]
    for liker in likers:
        assert api(liker).post(f"/api/posts/{post['id']}/like/").status_code == 200

    first = wait_until(lambda: smtp_sink.to(address), timeout=60)
    assert first[0]["Subject"] == f"{likers[-1]['username']} and 3 others liked your post"
    assert "mail me" in first[0].get_content()
    # The link is the post's page on the stack that sent the mail (SITE_URL, set by the
    # tests' stack to where it serves, as config/run.py does for make run).
    link = f"{live_server_url}/p/{post['id']}/"
    assert link in first[0].get_content()
    assert httpx.get(link, follow_redirects=True, timeout=10).status_code == 200

    late = make_user()
    api(late).post(f"/api/posts/{post['id']}/like/")
    mails = wait_until(lambda: (lambda m: len(m) == 2 and m)(smtp_sink.to(address)), timeout=60)
    # The burst was one mail, and the later like was reported alone: never twice.
    assert [m["Subject"] for m in mails] == [
        first[0]["Subject"],
        f"{late['username']} liked your post",
    ]


def test_an_author_who_turned_like_mails_off_gets_none(make_user, api, smtp_sink):
    from notifications.models import LikeMailMark

    author, address = author_with_address(make_user, api, like_emails=False)
    post = api(author).post("/api/posts/", json={"body": "quiet please"}).json()
    api(make_user()).post(f"/api/posts/{post['id']}/like/")
    # The mail task ran and decided (the like is marked as seen), and nothing was sent.
    wait_until(
        lambda: LikeMailMark.objects.filter(post_id=post["id"], last_like_id__gt=0).exists(),
        timeout=60,
    )
    assert LikeMailMark.objects.get(post_id=post["id"]).sent_at is None
    assert smtp_sink.to(address) == []


def delivered_ms(api, ws, liker, post_id):
    """Like a post and read the liker's ``like.delivered``: how long the fan-out took."""
    api(liker).post(f"/api/posts/{post_id}/like/")
    message, _ = receive_until(
        ws,
        lambda m: m["type"] == "like.delivered" and m["post_id"] == post_id,
        timeout=30,
    )
    return message["ms"]


def test_fan_out_completes_while_the_mail_worker_is_stuck_in_smtp(
    make_user, api, smtp_sink, live_stack
):
    """A mail stuck in a slow SMTP server holds up the mail worker only: fan-outs go on.

    Proved by cause, not by a clock: the SMTP server holds every mail until the test lets
    it go, and the test lets it go only after fan-outs have completed. Were fan-out waiting
    on mail, this would never finish. The fan-out times with mail stuck and with mail
    flowing are printed side by side (a measurement, not an assertion).
    """
    author, address = author_with_address(make_user, api)
    liker, follower = make_user(), make_user()
    api(follower).put(f"/api/users/{liker['username']}/follow/")
    posts = [api(author).post("/api/posts/", json={"body": f"p{i}"}).json() for i in range(7)]

    smtp_sink.hold()
    try:
        # A like opens a mail window; when it closes, the mail worker enters SMTP and waits.
        api(make_user()).post(f"/api/posts/{posts[0]['id']}/like/")
        wait_until(lambda: smtp_sink.waiting >= 1, timeout=60)

        with ws_connect(live_stack.ws_url, token=liker["token"]) as ws:
            ws.send('{"type": "resume", "after": 0}')
            stuck = [delivered_ms(api, ws, liker, p["id"]) for p in posts[1:4]]
            feed = api(follower).get("/api/feed/").json()["items"]
            assert {i["post"]["id"] for i in feed} >= {p["id"] for p in posts[1:4]}
            assert smtp_sink.waiting >= 1 and smtp_sink.to(address) == []  # still stuck
    finally:
        smtp_sink.release()
    wait_until(lambda: smtp_sink.to(address), timeout=60)

    with ws_connect(live_stack.ws_url, token=liker["token"]) as ws:
        ws.send('{"type": "resume", "after": 0}')
        flowing = [delivered_ms(api, ws, liker, p["id"]) for p in posts[4:7]]
    print(
        f"\nfan-out ms (median of 3): mail stuck {statistics.median(stuck):.1f}, "
        f"mail flowing {statistics.median(flowing):.1f}, ratio "
        f"{statistics.median(stuck) / max(statistics.median(flowing), 0.1):.2f}"
    )


def test_mail_preferences_api(make_user, api):
    me = make_user()
    assert api(me).get("/api/me/notifications/").json() == {"email": "", "like_emails": True}
    answer = api(me).patch("/api/me/notifications/", json={"like_emails": False})
    assert answer.json() == {"email": "", "like_emails": False}
    bad = api(me).patch("/api/me/notifications/", json={"email": "not an address"})
    assert bad.status_code == 400 and "email" in bad.json()["fields"]
    assert api(None).get("/api/me/notifications/").status_code in (401, 403)
