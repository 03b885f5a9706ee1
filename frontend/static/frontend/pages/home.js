// The home page: composer, live feed, who to follow.

import { $ } from "../dom.js";
import { setupComposer } from "../composer.js";
import { FeedView } from "../feed.js";
import { loadSuggestions } from "../follow.js";
import { LikeController } from "../likes.js";
import { LiveConnection } from "../live.js";

/**
 * A follow's backfill of the followee's recent posts is written by a worker
 * just after the follow and sends no live event, so the feed is re-read a few
 * times (ms after the follow) to pick it up.
 */
const BACKFILL_REREADS_MS = [0, 1000, 3000];

export function startHome() {
  const viewer = document.body.dataset.viewer ?? "";
  const likes = new LikeController();

  const feed = new FeedView(
    {
      list: $("[data-feed]"),
      note: $("[data-feed-note]"),
      loadMore: /** @type {HTMLButtonElement} */ ($("[data-load-more]")),
      newPill: /** @type {HTMLButtonElement} */ ($("[data-new-pill]")),
    },
    { likes, viewer, onPostsChanged: (postIds) => live.subscribe(postIds) },
  );

  const live = new LiveConnection({
    onFeedItem: (item) => feed.addLive(item),
    onFeedRemove: (id) => feed.remove(id),
    onGap: () => void feed.reload(),
    onPostLikes: (postId, count, version) => likes.applyLiveCount(postId, count, version),
    onMyLike: (message) => likes.applyMine(message),
    // Beside the heart, for a moment: a toast here covered the bottom of a phone's feed.
    onLikeDelivered: (postId, followers, ms) => likes.delivered(postId, followers, ms),
    onMaybeMissed: () => void feed.refresh(),
    onState: (state, detail) => drawLiveStatus(state, detail),
  });

  setupComposer(/** @type {HTMLFormElement} */ ($("[data-composer]")), {
    onPosted: (post) => feed.addOwnPost(post),
  });

  void loadSuggestions($("[data-suggestions-box]"), {
    onFollowChange: () => {
      for (const delay of BACKFILL_REREADS_MS) setTimeout(() => void feed.refresh(), delay);
    },
  });

  live.start();
  void feed.refresh();
}

/**
 * @param {import("../live.js").LiveState} state
 * @param {string} detail
 */
function drawLiveStatus(state, detail) {
  const indicator = $("[data-testid=live-status]");
  indicator.dataset.state = state;
  $("[data-live-text]", indicator).textContent = state === "live" ? "Live" : detail;
}
