// A person's page: who they are, how many follow them, a follow button, and
// their posts, newest first, with live counts and "load more" as you scroll.

import { api, ApiError } from "../api.js";
import { $, avatar, compactCount, exactCount, h } from "../dom.js";
import { followButton, loadSuggestions } from "../follow.js";
import { LikeController } from "../likes.js";
import { liveCounts } from "../livecounts.js";
import { Pager } from "../pager.js";
import { renderPostCard } from "../card.js";

/** The server takes at most this many posts in one subscription (WS_MAX_SUBSCRIBED_POSTS). */
const MAX_SUBSCRIBED_POSTS = 200;

export async function startUser() {
  const card = $("[data-profile]");
  const username = card.dataset.username ?? "";
  const viewer = document.body.dataset.viewer ?? "";
  const followers = $("[data-followers]", card);
  const following = $("[data-following]", card);
  const note = $("[data-profile-note]", card);

  $("[data-profile-avatar]", card).replaceWith(avatar(username, "avatar-large"));
  void loadSuggestions($("[data-suggestions-box]"), { except: username });

  const likes = new LikeController();
  const live = liveCounts(likes);
  /** @type {Pager<import("../api.js").Post>} */
  const posts = new Pager({
    list: $("[data-posts]"),
    note: $("[data-posts-note]"),
    more: /** @type {HTMLButtonElement} */ ($("[data-posts-more]")),
    load: (before, limit) => api.userPosts(username, { before, limit }),
    render: (post) => renderPostCard(post, { likes, viewer }),
    key: (post) => String(post.id),
    empty: username === viewer ? "You have not posted yet." : "No posts yet.",
    onChange: (items) => {
      for (const post of items) likes.track(post);
      live.subscribe(items.slice(0, MAX_SUBSCRIBED_POSTS).map((post) => post.id));
    },
  });

  let profile;
  try {
    profile = await api.user(username);
  } catch (error) {
    note.hidden = false;
    note.textContent =
      error instanceof ApiError && error.status === 404
        ? "There is nobody with this name."
        : `Could not load this page: ${error instanceof Error ? error.message : error}`;
    $("[data-posts-section]").hidden = true;
    return;
  } finally {
    card.setAttribute("aria-busy", "false");
  }
  void posts.start();

  const drawCounts = () => {
    drawCount(followers, profile.followers_count, "follower", "followers");
    drawCount(following, profile.following_count, "following", "following");
  };
  drawCounts();

  if (profile.username === viewer) {
    note.hidden = false;
    note.textContent = "This is you. Your posts go to the feeds of the people who follow you.";
    return;
  }
  $("[data-profile-actions]", card).append(
    followButton(profile.username, profile.is_following, (isFollowing) => {
      // The server answered; move the count with it (it changes only on a real change).
      if (isFollowing !== profile.is_following) {
        profile.followers_count += isFollowing ? 1 : -1;
        profile.is_following = isFollowing;
        drawCounts();
      }
    }),
  );
}

/**
 * "<strong title="1,234">1.2K</strong> followers", singular for one.
 * @param {HTMLElement} element
 * @param {number} count
 * @param {string} one
 * @param {string} many
 */
function drawCount(element, count, one, many) {
  element.replaceChildren(
    h("strong", { title: exactCount(count), "data-testid": "count" }, compactCount(count)),
    ` ${count === 1 ? one : many}`,
  );
}
