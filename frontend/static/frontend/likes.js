// The like button: optimistic on screen, serialized on the wire, and the
// server's answer always has the last word.
//
// Per post we keep what the server last said (`liked`, `count`) and what the
// person wants (`wanted`). A click flips `wanted` and redraws at once. At most
// one request per post is in flight; when it returns, its answer becomes the
// truth, and if the person changed their mind meanwhile one more request goes
// out. So double clicks and fast toggling cost at most one extra request and
// always settle on the server's count. A failed request rolls the button
// back to the server's state and says so in a toast.
//
// Counts never move backwards. Every count the server gives (a post read, a
// like's answer, a live `post.likes`, a `me.like` from another tab) carries
// the post's `likes_version`, which grows with every change of its likes. A
// count is taken only when its version is newer than the one on screen, so an
// answer or event that arrives late (Bluesky social-app #8371: a like counted
// twice after revisiting a page) changes nothing. The person's own liked
// state has its version too (`likedVersion`): `post.likes` says nothing about
// it, answers and `me.like` do.
//
// `me.like` (this person liked or unliked in another tab or device: Mastodon
// #28125) moves the heart here too; a tab with its own request out keeps
// what its person asked for, and its next request settles it.
//
// While requests are out the button carries `is-pending` (from the click that
// started them until the last answer is drawn): the person sees their like is
// on its way, and a test can wait for the answer by waiting for it to go.
//
// The same post can be on screen several times: every button with its
// `data-post-id` is drawn from the same state.

import { api } from "./api.js";
import { compactCount, h, plural, svg } from "./dom.js";
import { toast } from "./toast.js";

/** @typedef {import("./api.js").Post} Post */

/**
 * @typedef {object} LikeState
 * @property {boolean} liked the server's last word
 * @property {number} count the server's last word
 * @property {number} version the `likes_version` of `count`
 * @property {number} likedVersion the `likes_version` of `liked`
 * @property {boolean} wanted what the person asked for last
 * @property {boolean} inFlight requests for this post are out: from the one that the
 *   click started until the answer that agrees with `wanted` (between two requests too,
 *   so a live count never lands in the gap)
 * @property {{ count: number, version: number } | null} held the newest live count that
 *   came while requests were out (it may or may not include this person's change), taken
 *   when they are done if it is still the newest
 * @property {string} delivered how far this person's last like went, for the heart's title
 */

/** How long "sent to 3 followers" stays beside the heart after a like. */
const DELIVERED_SHOWN_MS = 4000;

const HEART = `
<svg class="heart" viewBox="0 0 24 24" width="20" height="20" aria-hidden="true" focusable="false">
  <path d="M12 21s-7.5-4.6-9.6-9.1C.9 8.6 2.9 4.5 6.8 4.5c2.2 0 3.6 1.2 5.2 3.1 1.6-1.9 3-3.1 5.2-3.1 3.9 0 5.9 4.1 4.4 7.4C19.5 16.4 12 21 12 21z"/>
</svg>`;

export class LikeController {
  constructor() {
    /** @type {Map<number, LikeState>} */
    this.states = new Map();
  }

  /**
   * Learn a post's state from the API. A post we already track takes it only
   * if it is newer than what we have (answers and live counts may be).
   * @param {Post} post
   */
  track(post) {
    const state = this.states.get(post.id);
    if (!state) {
      this.states.set(post.id, {
        liked: post.liked_by_me,
        count: post.like_count,
        version: post.likes_version,
        likedVersion: post.likes_version,
        wanted: post.liked_by_me,
        inFlight: false,
        held: null,
        delivered: "",
      });
      return;
    }
    if (state.inFlight) return;
    if (this.takeCount(state, post.like_count, post.likes_version)) this.draw(post.id);
    if (this.takeLiked(state, post.liked_by_me, post.likes_version)) {
      state.wanted = state.liked;
      this.draw(post.id);
    }
  }

  /**
   * @param {LikeState} state
   * @param {number} count
   * @param {number} version
   * @returns {boolean} whether it was newer than the count we had
   */
  takeCount(state, count, version) {
    if (!(version > state.version)) return false;
    state.count = count;
    state.version = version;
    return true;
  }

  /**
   * @param {LikeState} state
   * @param {boolean} liked
   * @param {number} version
   * @returns {boolean} whether it was at least as new as what we had
   */
  takeLiked(state, liked, version) {
    if (!(version >= state.likedVersion)) return false;
    state.liked = liked;
    state.likedVersion = version;
    return true;
  }

  /**
   * A like button for `post`, drawn from the shared state.
   * @param {Post} post
   * @returns {HTMLElement}
   */
  button(post) {
    this.track(post);
    const button = h(
      "button",
      {
        type: "button",
        class: "like-button",
        "data-testid": "like-button",
        "data-post-id": post.id,
        "aria-pressed": "false",
        onclick: () => this.toggle(post.id),
      },
      svg(HEART),
      h("span", { class: "visually-hidden" }, "Like"),
      h("span", { class: "like-count", "data-testid": "like-count", "data-post-id": post.id }, "0"),
      // For a moment after this person's like reached their followers (``delivered``).
      h("span", { class: "like-delivered", "data-testid": "like-delivered", "aria-hidden": "true" }),
    );
    this.drawButton(button, /** @type {LikeState} */ (this.states.get(post.id)));
    return button;
  }

  /**
   * The person clicked (or pressed Enter/Space on) the button.
   * @param {number} postId
   */
  toggle(postId) {
    const state = this.states.get(postId);
    if (!state) return;
    state.wanted = !state.wanted;
    if (state.inFlight) this.draw(postId); // the request out is followed by one more if needed
    else void this.sync(postId); // draws the change, pending, before its request goes out
  }

  /**
   * A live count from the server (`post.likes`), taken if it is newer. While
   * this person's own request is out it is held: it may predate their change
   * (then the optimistic +1 still applies) or follow it (then it already
   * counts it); the answer tells which, and the held count is taken after it
   * if it is still the newest.
   * @param {number} postId
   * @param {number} count
   * @param {number} version
   */
  applyLiveCount(postId, count, version) {
    const state = this.states.get(postId);
    if (!state) return;
    if (state.inFlight) {
      if (!state.held || version > state.held.version) state.held = { count, version };
      return;
    }
    if (this.takeCount(state, count, version)) this.draw(postId);
  }

  /**
   * This person liked or unliked the post, here or in another tab or device
   * (`me.like`). It carries both the count and their liked state.
   * @param {{ post_id: number, liked: boolean, like_count: number, likes_version: number }} message
   */
  applyMine(message) {
    const state = this.states.get(message.post_id);
    if (!state) return;
    this.takeCount(state, message.like_count, message.likes_version);
    if (this.takeLiked(state, message.liked, message.likes_version) && !state.inFlight) {
      state.wanted = state.liked; // chosen elsewhere: this tab follows
    }
    this.draw(message.post_id);
  }

  /**
   * How far this person's like went (`like.delivered`): in the heart's title
   * and, for a moment, in small print beside it, where it covers nothing.
   * @param {number} postId
   * @param {number} followers
   * @param {number} ms
   */
  delivered(postId, followers, ms) {
    const state = this.states.get(postId);
    if (!state) return;
    state.delivered = `Delivered to ${plural(followers, "follower")} in ${Math.round(ms)} ms`;
    this.draw(postId);
    const buttons = document.querySelectorAll(`.like-button[data-post-id="${postId}"]`);
    for (const button of buttons) {
      const note = /** @type {HTMLElement} */ (button.querySelector(".like-delivered"));
      note.textContent = `→ ${plural(followers, "feed")}`;
      note.classList.add("is-shown");
      clearTimeout(Number(note.dataset.timer));
      const timer = setTimeout(() => note.classList.remove("is-shown"), DELIVERED_SHOWN_MS);
      note.dataset.timer = String(timer);
    }
  }

  /**
   * Send requests until the server agrees with what the person wants.
   * @param {number} postId
   */
  async sync(postId) {
    const state = /** @type {LikeState} */ (this.states.get(postId));
    // Pending is drawn here, synchronously, before the first request leaves: drawn only
    // when an answer came, it would never be seen while a request is out.
    state.inFlight = true;
    this.draw(postId);
    try {
      while (state.wanted !== state.liked) {
        try {
          const answer = await api.setLiked(postId, state.wanted);
          // Either may be older than what came meanwhile (another tab's me.like, a live
          // count): then the newer stands, and the loop sends this tab's wish again if
          // the server's state differs from it.
          this.takeCount(state, answer.like_count, answer.likes_version);
          this.takeLiked(state, answer.liked, answer.likes_version);
        } catch (error) {
          state.wanted = state.liked;
          toast(`Could not ${state.liked ? "unlike" : "like"} the post: ${errorText(error)}`, {
            kind: "error",
          });
        }
      }
    } finally {
      state.inFlight = false;
      if (state.held) this.takeCount(state, state.held.count, state.held.version);
      state.held = null;
      this.draw(postId);
    }
  }

  /**
   * Redraw every button of one post.
   * @param {number} postId
   */
  draw(postId) {
    const state = this.states.get(postId);
    if (!state) return;
    for (const button of document.querySelectorAll(`.like-button[data-post-id="${postId}"]`)) {
      this.drawButton(/** @type {HTMLElement} */ (button), state);
    }
  }

  /**
   * @param {HTMLElement} button
   * @param {LikeState} state
   */
  drawButton(button, state) {
    const shown = displayed(state);
    button.setAttribute("aria-pressed", String(shown.liked));
    button.classList.toggle("is-pending", state.inFlight);
    const count = /** @type {HTMLElement} */ (button.querySelector(".like-count"));
    count.textContent = compactCount(shown.count);
    const exact = plural(shown.count, "like");
    button.title = state.delivered ? `${exact}. ${state.delivered}` : exact;
  }
}

/**
 * What the button shows: the server's count moved by the change the person
 * asked for and the server has not confirmed yet.
 * @param {LikeState} state
 * @returns {{ liked: boolean, count: number }}
 */
export function displayed(state) {
  const delta = state.wanted === state.liked ? 0 : state.wanted ? 1 : -1;
  return { liked: state.wanted, count: Math.max(0, state.count + delta) };
}

/** @param {unknown} error */
const errorText = (error) => (error instanceof Error ? error.message : String(error));
