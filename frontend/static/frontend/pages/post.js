// A post's page (/p/<id>/): the post with its like button, and who likes it,
// newest first, kept up to date while the page is open.
//
// Live likers: the page subscribes to its post. Every `post.likes` for it
// (someone liked or unliked) and every `me.like` (this person did, here or
// elsewhere) re-reads the newest likers, as many as are on screen (up to the
// API's page of 100), and shows that list instead of the old one: a new liker
// comes in at the top and one who unliked goes, with no liker data on the
// socket (a `post.likes` goes to every viewer of the post, often in feeds
// that never show likers, so it stays a count). Bursts fold into one read
// (at most one read a second), and a reconnect reads again, for what happened meanwhile.

import { api, ApiError } from "../api.js";
import { $, avatar, h, throttle, timeAgo, userLink } from "../dom.js";
import { LikeController } from "../likes.js";
import { liveCounts } from "../livecounts.js";
import { Pager } from "../pager.js";
import { renderPostCard } from "../card.js";
import { flashNext } from "../toast.js";
import { signedOut } from "../session.js";

/** @typedef {import("../api.js").Liker} Liker */

/** The likers are read again at most this often while likes come in. */
const LIKERS_REREAD_MS = 1000;

export async function startPost() {
  const slot = $("[data-post-slot]");
  const postId = Number(slot.dataset.postId);
  const viewer = document.body.dataset.viewer ?? "";
  const likes = new LikeController();

  /** @type {Pager<Liker>} */
  const likers = new Pager({
    list: $("[data-likers]"),
    note: $("[data-likers-note]"),
    more: /** @type {HTMLButtonElement} */ ($("[data-likers-more]")),
    load: (before, limit) => api.postLikes(postId, { before, limit }),
    render: likerRow,
    key: (liker) => String(liker.user.id),
    empty: "Nobody has liked this post yet.",
  });
  // A hot post's page: at most one read a second, whatever the rate of likes.
  const reloadLikers = throttle(() => void likers.reload(), LIKERS_REREAD_MS);
  const live = liveCounts(likes, {
    onLikesChanged: (changed) => {
      if (changed === postId) reloadLikers();
    },
    onConnected: reloadLikers,
  });

  let post;
  try {
    post = await api.post(postId);
  } catch (error) {
    const note = $("[data-post-note]", slot);
    note.textContent =
      error instanceof ApiError && error.status === 404
        ? "This post does not exist, or it was deleted."
        : `Could not load this post: ${error instanceof Error ? error.message : error}`;
    if (error instanceof ApiError && error.isAuthError) {
      signedOut(); // the session ended: the log-in page says so and brings them back
    }
    return;
  } finally {
    slot.setAttribute("aria-busy", "false");
  }
  document.title = `${post.author.username}: “${truncate(post.body, 40)}” · Likefeed`;
  // Its own page has nothing left to show once deleted: back to the feed, which says so.
  const onDeleted = () => {
    flashNext("Your post was deleted.");
    location.assign("/");
  };
  slot.replaceChildren(renderPostCard(post, { likes, viewer, onDeleted }));
  live.subscribe([postId]);
  $("[data-likers-section]").hidden = false;
  await likers.start();
}

/**
 * One liker: avatar, name, when.
 * @param {Liker} liker
 */
function likerRow(liker) {
  return h(
    "li",
    { class: "liker", "data-testid": "liker", "data-username": liker.user.username },
    avatar(liker.user.username),
    userLink(liker.user.username),
    h("span", { class: "muted liker-time" }, timeAgo(liker.liked_at)),
  );
}

/**
 * @param {string} text
 * @param {number} length
 */
function truncate(text, length) {
  const chars = [...text];
  return chars.length > length ? `${chars.slice(0, length - 1).join("")}…` : text;
}
