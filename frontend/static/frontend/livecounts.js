// The socket for pages that show posts but no feed (a profile, a post's
// page): live counts of the posts on screen (`post.likes`), this person's own
// likes from their other tabs (`me.like`), and how far their likes went.

import { $ } from "./dom.js";
import { LiveConnection } from "./live.js";

/** @typedef {import("./likes.js").LikeController} LikeController */

/**
 * @param {LikeController} likes
 * @param {object} [options]
 * @param {(postId: number) => void} [options.onLikesChanged] a post's likes changed
 *   (someone's like or unlike, this person's included)
 * @param {() => void} [options.onConnected] a socket opened: what changed while there
 *   was none was not pushed (counts are: subscribing sends them)
 * @returns {LiveConnection} started; call `subscribe(postIds)` with the posts on screen
 */
export function liveCounts(likes, { onLikesChanged = () => {}, onConnected = () => {} } = {}) {
  const live = new LiveConnection({
    onFeedItem: () => {}, // this page shows no feed
    onPostLikes: (postId, count, version) => {
      likes.applyLiveCount(postId, count, version);
      onLikesChanged(postId);
    },
    onMyLike: (message) => {
      likes.applyMine(message);
      onLikesChanged(message.post_id);
    },
    onLikeDelivered: (postId, followers, ms) => likes.delivered(postId, followers, ms),
    onMaybeMissed: () => onConnected(), // this page has no seq: called on every open
    onState: (state, detail) => {
      const indicator = document.querySelector("[data-testid=live-status]");
      if (!(indicator instanceof HTMLElement)) return;
      indicator.dataset.state = state;
      $("[data-live-text]", indicator).textContent = state === "live" ? "Live" : detail;
    },
  });
  live.start();
  return live;
}
