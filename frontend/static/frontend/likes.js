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
// While requests are out the button carries `is-pending` (from the click that
// started them until the last answer is drawn): the person sees their like is
// on its way, and a test can wait for the answer by waiting for it to go.
//
// The same post can be on screen several times (a post and someone's like of
// it): every button with its `data-post-id` is drawn from the same state.

import { api } from "./api.js";
import { h, svg } from "./dom.js";
import { toast } from "./toast.js";

/** @typedef {import("./api.js").Post} Post */

/**
 * @typedef {object} LikeState
 * @property {boolean} liked the server's last word
 * @property {number} count the server's last word
 * @property {boolean} wanted what the person asked for last
 * @property {boolean} inFlight requests for this post are out: from the one that the
 *   click started until the answer that agrees with `wanted` (between two requests too,
 *   so a live count never lands in the gap)
 */

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
   * Learn a post's state from the API. A post we already track keeps its
   * state: what we heard since (answers, live counts) is newer.
   * @param {Post} post
   */
  track(post) {
    if (!this.states.has(post.id)) {
      this.states.set(post.id, {
        liked: post.liked_by_me,
        count: post.like_count,
        wanted: post.liked_by_me,
        inFlight: false,
      });
    }
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
   * A live count from the server (`post.likes`). Ignored while our own
   * request is in flight: its answer is about to bring a count that
   * includes this person's change, which the pushed one may not.
   * @param {number} postId
   * @param {number} count
   */
  applyLiveCount(postId, count) {
    const state = this.states.get(postId);
    if (!state || state.inFlight) return;
    state.count = count;
    this.draw(postId);
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
          state.liked = answer.liked;
          state.count = answer.like_count;
        } catch (error) {
          state.wanted = state.liked;
          toast(`Could not ${state.liked ? "unlike" : "like"} the post: ${errorText(error)}`, {
            kind: "error",
          });
        }
      }
    } finally {
      state.inFlight = false;
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
    count.textContent = String(shown.count);
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
