"""Profiles with their posts, a post's page with its likers, and counts that never lie on
screen (issue 15, items 2 and 5), in a real browser against the real stack."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import APIResponse, Page, Route, expect

from social.models import Post

from .helpers import (
    PHONE,
    OpenPage,
    create_post,
    expect_live,
    follow,
    like_button,
    like_count,
    screenshot,
    unique,
    wait_for,
)

pytestmark = pytest.mark.stack


def likers(page: Page) -> list[str]:
    return page.get_by_test_id("liker").evaluate_all(
        "rows => rows.map(row => row.dataset.username)"
    )


def listen(page: Page) -> list[dict[str, Any]]:
    """Every message the page's sockets receive (listen before the page opens one)."""
    received: list[dict[str, Any]] = []
    page.on(
        "websocket", lambda ws: ws.on("framereceived", lambda f: received.append(json.loads(f)))
    )
    return received


def test_own_posts_show_on_the_profile_and_more_load_on_scrolling(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    bob = make_user()
    posts = [create_post(api, bob, f"Post number {i} {unique()}") for i in range(23)]
    page = open_page(bob, path=f"/u/{bob['username']}/")
    cards = page.get_by_test_id("profile-posts").get_by_test_id("post-card")
    expect(cards).to_have_count(20)
    expect(cards.first).to_contain_text(posts[-1]["body"])
    expect(cards.first.get_by_text("You")).to_be_visible()
    screenshot(page, "profile-own")
    # The end of the list comes into view: the rest loads by itself; the button stays for
    # keyboards while there is more.
    expect(page.get_by_test_id("load-more")).to_be_attached()
    page.get_by_test_id("load-more").scroll_into_view_if_needed()
    expect(cards).to_have_count(23)
    expect(cards.last).to_contain_text(posts[0]["body"])
    expect(page.get_by_test_id("load-more")).to_be_hidden()
    expect(page.get_by_text("That\u2019s everything.")).to_be_visible()

    # After a reload the own post is still there, and its time is its page's link.
    page.reload()
    link = cards.first.get_by_test_id("post-link")
    expect(link).to_have_attribute("href", f"/p/{posts[-1]['id']}/")
    link.click()
    expect(page).to_have_url(re.compile(rf"/p/{posts[-1]['id']}/$"))
    expect(page.get_by_test_id("post-card")).to_contain_text(posts[-1]["body"])
    expect(page.get_by_text("Nobody has liked this post yet.")).to_be_visible()


def test_someone_elses_profile_lists_their_posts_with_my_likes(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    alice, bob = make_user(), make_user()
    liked = create_post(api, alice, f"Liked already {unique()}")
    create_post(api, alice, f"Not liked {unique()}")
    api(bob).post(f"/api/posts/{liked['id']}/like/")
    page = open_page(bob, path=f"/u/{alice['username']}/", viewport=PHONE)
    expect(page.get_by_test_id("post-card")).to_have_count(2)
    expect(like_button(page, liked["id"])).to_have_attribute("aria-pressed", "true")
    expect(like_count(page, liked["id"])).to_have_text("1")
    expect_live(page)
    assert page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "phone-profile")


def test_the_post_pages_likers_list_follows_likes_and_unlikes_live(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    alice, bob, carol, dave = make_user(), make_user(), make_user(), make_user()
    post = create_post(api, alice, f"Who likes this? {unique()}")
    page = open_page(bob, path=f"/p/{post['id']}/")
    expect(page.get_by_test_id("post-card")).to_contain_text(post["body"])
    expect(page.get_by_text("Nobody has liked this post yet.")).to_be_visible()
    expect_live(page)

    api(carol).post(f"/api/posts/{post['id']}/like/")
    expect(page.get_by_test_id("liker")).to_have_count(1)
    api(dave).post(f"/api/posts/{post['id']}/like/")
    expect(page.get_by_test_id("liker")).to_have_count(2)
    assert likers(page) == [dave["username"], carol["username"]]  # newest first
    expect(like_count(page, post["id"])).to_have_text("2")
    screenshot(page, "post-page")

    api(carol).delete(f"/api/posts/{post['id']}/like/")
    expect(page.get_by_test_id("liker")).to_have_count(1)
    assert likers(page) == [dave["username"]]
    expect(like_count(page, post["id"])).to_have_text("1")

    like_button(page, post["id"]).click()  # the person's own like joins the list too
    expect(page.get_by_test_id("liker").first).to_have_attribute("data-username", bob["username"])
    phone = open_page(bob, path=f"/p/{post['id']}/", viewport=PHONE)
    expect(phone.get_by_test_id("liker")).to_have_count(2)
    assert phone.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(phone, "phone-post-page")


def test_a_posts_time_in_the_home_feed_links_to_its_page(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    alice, bob = make_user(), make_user()
    follow(api, bob, alice)
    post = create_post(api, alice, f"Linked {unique()}")
    page = open_page(bob)
    link = (
        page.get_by_test_id("feed-item").filter(has_text=post["body"]).get_by_test_id("post-link")
    )
    expect(link).to_have_attribute("href", f"/p/{post['id']}/")
    link.click()
    expect(page).to_have_url(re.compile(rf"/p/{post['id']}/$"))
    expect(page.get_by_test_id("post-card")).to_contain_text(post["body"])


def test_deleting_a_post_on_its_page_goes_back_to_the_feed_with_a_note(
    open_page: OpenPage, make_user: Any, api: Any, live_server_url: str
) -> None:
    author = make_user()
    post = create_post(api, author, f"Soon gone {unique()}")
    page = open_page(author, path=f"/p/{post['id']}/")
    card = page.get_by_test_id("post-card")
    expect(card).to_contain_text(post["body"])
    card.get_by_test_id("delete-post").click()
    card.get_by_test_id("delete-confirm").click()

    expect(page).to_have_url(f"{live_server_url}/")
    expect(page.get_by_test_id("toast")).to_have_text(re.compile("Your post was deleted."))
    expect_live(page)
    expect(page.get_by_text(post["body"])).to_have_count(0)
    assert api(author).get(f"/api/posts/{post['id']}/").status_code == 404
    page.reload()  # said once, not on every visit
    expect_live(page)
    expect(page.get_by_test_id("toast")).to_have_count(0)


def test_a_page_without_a_feed_takes_a_feed_remove_in_its_stride(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    """``feed.remove`` goes to every socket of the person, a profile's or a post page's too
    (pages without a feed): it is ignored there, not an uncaught error (open_page fails the
    test on one)."""
    author = make_user()
    post = create_post(api, author, f"Here and gone {unique()}")
    page = open_page(author, path="/login/")
    received = listen(page)
    page.goto(f"/u/{author['username']}/")
    expect_live(page)
    assert api(author).delete(f"/api/posts/{post['id']}/").status_code == 204
    wait_for(page, lambda: any(m.get("type") == "feed.remove" for m in received))
    page.wait_for_timeout(300)  # the page's handler has run
    expect_live(page)


def test_an_unknown_post_says_so(open_page: OpenPage, make_user: Any) -> None:
    page = open_page(make_user(), path="/p/987654321/")
    expect(page.get_by_text("This post does not exist, or it was deleted.")).to_be_visible()


def test_an_unknown_page_is_the_sites_404_at_both_widths(
    open_page: OpenPage, make_user: Any
) -> None:
    """The site's own 404 (frontend/templates/404.html), with its header and the bell for a
    signed-in person, and no sideways scroll on a phone.

    The live stack runs with DEBUG on (Django's debug 404 there), so the page is the one this
    test process's Django answers (DEBUG off, as under ``make run``), for the same person,
    handed to the browser for that address; its styles and scripts come from the stack."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = make_user()
    client = Client()
    client.force_login(get_user_model().objects.get(username=user["username"]))
    answer = client.get("/no/such/page/")
    assert answer.status_code == 404
    page = open_page(user, path="/login/")
    page.route(
        "**/no/such/page/",
        lambda route: route.fulfill(status=404, content_type="text/html", body=answer.content),
    )
    page.goto("/no/such/page/")
    expect(page.get_by_test_id("error-page")).to_contain_text("There is no page here")
    expect(page.get_by_test_id("bell")).to_be_visible()
    expect(page).to_have_title("Page not found · Likefeed")
    screenshot(page, "404-desktop")
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    screenshot(page, "404-phone")
    page.get_by_role("link", name="Go to your feed").click()
    expect(page.get_by_test_id("live-status")).to_be_visible()


def test_a_late_answer_never_moves_the_count_backwards(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    """Bob's like is answered late (the server has it; the answer is held in the browser)
    and carol's like, newer, is pushed first: the page ends on carol's count (2), never back
    on the answer's (1), and the count on screen only ever grows."""
    alice, bob, carol = make_user(), make_user(), make_user()
    post = create_post(api, alice, f"Out of order {unique()}")
    page = open_page(bob, path="/login/")
    received = listen(page)
    page.goto(f"/p/{post['id']}/")
    expect_live(page)
    count = like_count(page, post["id"])
    expect(count).to_have_text("0")
    wait_for(page, lambda: [m for m in received if m.get("post_id") == post["id"]])
    page.evaluate(
        """() => {
            window.seenCounts = [];
            const count = document.querySelector('[data-testid="like-count"]');
            new MutationObserver(() => window.seenCounts.push(count.textContent))
                .observe(count, { childList: true, characterData: true, subtree: true });
        }"""
    )

    held: list[tuple[Route, APIResponse]] = []
    page.route("**/api/posts/*/like/", lambda route: held.append((route, route.fetch())))
    like_button(page, post["id"]).click()
    wait_for(page, lambda: held)  # stored by the server (version 1), answer not delivered
    api(carol).post(f"/api/posts/{post['id']}/like/")  # version 2
    wait_for(
        page,
        lambda: [
            m for m in received
            if m["type"] == "post.likes" and m["post_id"] == post["id"] and m["likes_version"] == 2
        ],
    )  # fmt: skip
    route, response = held[0]
    assert json.loads(response.body())["likes_version"] == 1
    route.fulfill(response=response)

    expect(like_button(page, post["id"])).not_to_have_class(re.compile(r"\bis-pending\b"))
    expect(count).to_have_text("2")
    expect(like_button(page, post["id"])).to_have_attribute("aria-pressed", "true")
    page.wait_for_timeout(500)
    expect(count).to_have_text("2")
    seen = [int(text) for text in page.evaluate("() => window.seenCounts")]
    assert seen == sorted(seen), seen


def test_two_tabs_of_one_person_stay_in_step(open_page: OpenPage, make_user: Any, api: Any) -> None:
    """Mastodon #28125: a like in one tab shows in the others (``me.like``)."""
    alice, bob = make_user(), make_user()
    post = create_post(api, alice, f"In step {unique()}")
    first = open_page(bob, path=f"/p/{post['id']}/")
    second = open_page(path=f"/u/{alice['username']}/", context=first.context)
    expect_live(first)
    expect_live(second)
    expect(like_count(second, post["id"])).to_have_text("0")

    like_button(first, post["id"]).click()
    expect(like_button(second, post["id"])).to_have_attribute("aria-pressed", "true")
    expect(like_count(second, post["id"])).to_have_text("1")

    like_button(second, post["id"]).click()
    expect(like_button(first, post["id"])).to_have_attribute("aria-pressed", "false")
    expect(like_count(first, post["id"])).to_have_text("0")
    expect(first.get_by_test_id("liker")).to_have_count(0)


def test_big_counts_read_compactly_with_the_exact_number_in_the_title(
    open_page: OpenPage, make_user: Any, api: Any
) -> None:
    alice, bob = make_user(), make_user()
    post = create_post(api, alice, f"Popular {unique()}")
    Post.objects.filter(pk=post["id"]).update(like_count=1_234_567, likes_version=9)
    page = open_page(bob, path=f"/p/{post['id']}/")
    expect(like_count(page, post["id"])).to_have_text("1.2M")
    expect(like_button(page, post["id"])).to_have_attribute("title", "1,234,567 likes")
    Post.objects.filter(pk=post["id"]).update(like_count=1_234, likes_version=10)
    page.reload()
    expect(like_count(page, post["id"])).to_have_text("1.2K")
    expect(like_button(page, post["id"])).to_have_attribute("title", "1,234 likes")
