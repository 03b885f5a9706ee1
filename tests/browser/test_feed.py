"""The home feed as a person sees it (issue 15): one card per post with who of the people
you follow like it, moved and removed live, your own posts kept, delete with a confirm step,
and a reload when the socket is told its missed events are gone."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import expect

from tests.conftest import wait_until

from .helpers import (
    PHONE,
    OpenPage,
    create_post,
    expect_live,
    feed_items,
    follow,
    screenshot,
    unique,
)

pytestmark = pytest.mark.stack


def card(page: Any, post: dict[str, Any]) -> Any:
    return page.locator(f'[data-testid="feed-item"][data-item-id="p:{post["id"]}"]')


def test_a_post_liked_by_two_followees_is_one_card_moved_up_live_and_removed_by_the_last_unlike(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    author, bob, carol, dave, fan = (make_user() for _ in range(5))
    for followee in (bob, carol, dave):
        follow(api, fan, followee)
    post = create_post(api, author, f"Worth a like {unique('')}")
    api(bob).post(f"/api/posts/{post['id']}/like/")
    api(carol).post(f"/api/posts/{post['id']}/like/")
    page = open_page(fan)
    expect_live(page)
    item = card(page, post)
    expect(item).to_have_count(1)
    expect(item.get_by_test_id("social-context")).to_have_text(
        f"liked by {carol['username']} and {bob['username']}"
    )
    expect(item.locator(".card")).to_have_count(0)  # no card inside the card

    newer = create_post(api, dave, f"Dave writes {unique('')}")
    expect(feed_items(page).first).to_have_attribute("data-post-id", str(newer["id"]))
    api(dave).post(f"/api/posts/{post['id']}/like/")  # a new like moves it up, live
    expect(feed_items(page).first).to_have_attribute("data-post-id", str(post["id"]))
    expect(item).to_have_count(1)
    expect(item.get_by_test_id("social-context")).to_have_text(
        f"liked by {dave['username']} and 2 others"
    )
    page.set_viewport_size({"width": 1280, "height": 900})
    screenshot(page, "feed-one-card-per-post")
    page.set_viewport_size(PHONE)
    screenshot(page, "feed-one-card-per-post-phone")

    for liker in (bob, carol):
        api(liker).delete(f"/api/posts/{post['id']}/like/")
    # Dave still likes it: it stays, its line brought up to date live.
    wait_until(lambda: api(fan).get("/api/feed/").json()["items"][0]["likers_count"] == 1)
    expect(item).to_have_count(1)
    expect(item.get_by_test_id("social-context")).to_have_text(f"liked by {dave['username']}")
    api(dave).delete(f"/api/posts/{post['id']}/like/")  # the last: the card goes, live
    expect(item).to_have_count(0)
    expect(card(page, newer)).to_have_count(1)


def test_an_unlike_that_leaves_the_card_drops_the_unliker_from_liked_by_live(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    """Alice and Bob, both followed, like a post; Bob unlikes: the open page says "liked by
    alice" alone, without a reload (a mark left on the page's window survives)."""
    author, alice, bob, fan = (make_user() for _ in range(4))
    for followee in (alice, bob):
        follow(api, fan, followee)
    post = create_post(api, author, f"Liked by two {unique('')}")
    page = open_page(fan)
    expect_live(page)
    page.evaluate("window.likefeedNotReloaded = true")
    for liker in (alice, bob):
        api(liker).post(f"/api/posts/{post['id']}/like/")
    item = card(page, post)
    context = item.get_by_test_id("social-context")
    expect(context).to_have_text(f"liked by {bob['username']} and {alice['username']}")

    api(bob).delete(f"/api/posts/{post['id']}/like/")
    expect(context).to_have_text(f"liked by {alice['username']}")
    expect(item).to_have_count(1)
    assert page.evaluate("window.likefeedNotReloaded") is True


def test_own_post_stays_after_a_reload_and_its_deletion_reaches_a_followers_page(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    me, fan = make_user(), make_user()
    follow(api, fan, me)
    page = open_page(me)
    expect_live(page)
    body = f"Mine to keep {unique('')}"
    page.locator("#composer-input").fill(body)
    page.get_by_test_id("post-submit").click()
    expect(feed_items(page, body)).to_have_count(1)
    page.reload()
    expect(feed_items(page, body)).to_have_count(1)  # in one's own feed, not only on screen

    theirs = open_page(fan)
    expect_live(theirs)
    expect(feed_items(theirs, body)).to_have_count(1)
    expect(feed_items(theirs, body).get_by_test_id("delete-post")).to_have_count(0)

    mine = feed_items(page, body)
    mine.get_by_test_id("delete-post").click()
    expect(mine).to_contain_text("Delete this post?")
    screenshot(page, "feed-delete-confirm")
    mine.get_by_role("button", name="Cancel").click()
    expect(mine.get_by_test_id("delete-confirm")).to_have_count(0)
    mine.get_by_test_id("delete-post").click()
    mine.get_by_test_id("delete-confirm").click()
    expect(feed_items(page, body)).to_have_count(0)
    expect(feed_items(theirs, body)).to_have_count(0)  # live, through feed.remove
    page.reload()
    expect_live(page)
    expect(feed_items(page, body)).to_have_count(0)


def test_a_resume_past_the_kept_log_reloads_the_feed(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    from config.redis import get_redis
    from feed import store

    author, fan = make_user(), make_user()
    follow(api, fan, author)
    page = open_page(fan)
    expect_live(page)
    first = create_post(api, author, f"Before the gap {unique('')}")
    expect(card(page, first)).to_have_count(1)  # seen live: the page has a seq to resume from
    page.context.set_offline(True)
    expect(page.get_by_test_id("live-status")).to_have_attribute("data-state", "offline")
    # While away: one post comes, one goes, and the log of it is lost.
    missed = create_post(api, author, f"While away {unique('')}")
    assert api(author).delete(f"/api/posts/{first['id']}/").status_code == 204
    wait_until(lambda: api(fan).get("/api/feed/").json()["items"][0]["post"]["id"] == missed["id"])
    wait_until(lambda: len(api(fan).get("/api/feed/").json()["items"]) == 1)
    r = get_redis()
    r.delete(store.events_key(fan["id"]))
    page.context.set_offline(False)
    expect_live(page)
    expect(card(page, missed)).to_have_count(1)
    expect(card(page, first)).to_have_count(0)  # the reload's doing: no feed.remove was left
