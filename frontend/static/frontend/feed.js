// The home feed: renders FeedItems, newest first, each post once.
//
// Items come from three places: pages of GET /api/feed/, live `feed.item`
// messages, and the person's own new posts. All go through `merge`, which
// puts new items in time order and, for an item already on screen (same
// `id`: a post has one item), redraws it in its new place (a new like by
// someone you follow moves it to the top with its new "liked by" line). A
// live `feed.remove` takes the card out (`remove`); a `resume.gap` reloads
// the whole list (`reload`). Cards are drawn by `card.js`. When the person has scrolled into the feed, whatever lands above
// what they are reading is compensated by scrolling, so the text under their
// eyes does not move, and a "N new" pill offers the way back to the top.

import { api, ApiError } from "./api.js";
import { renderPostCard } from "./card.js";
import { toast } from "./toast.js";
import { signedOut } from "./session.js";

/** @typedef {import("./api.js").FeedItem} FeedItem */
/** @typedef {import("./api.js").Post} Post */
/** @typedef {import("./likes.js").LikeController} LikeController */

const PAGE_SIZE = 20;
/** The server takes at most this many posts in one subscription (WS_MAX_SUBSCRIBED_POSTS). */
const MAX_SUBSCRIBED_POSTS = 200;

/**
 * @typedef {object} FeedElements
 * @property {HTMLElement} list the role="feed" container
 * @property {HTMLElement} note the line under the list (loading, empty, end)
 * @property {HTMLButtonElement} loadMore
 * @property {HTMLButtonElement} newPill
 */

export class FeedView {
  /**
   * @param {FeedElements} elements
   * @param {object} options
   * @param {LikeController} options.likes
   * @param {string} options.viewer the signed-in person's username
   * @param {(postIds: number[]) => void} options.onPostsChanged the set of posts on screen changed
   */
  constructor(elements, { likes, viewer, onPostsChanged }) {
    this.elements = elements;
    this.likes = likes;
    this.viewer = viewer;
    this.onPostsChanged = onPostsChanged;
    /** @type {Map<string, HTMLElement>} item id → its element */
    this.rendered = new Map();
    /** @type {string | null} cursor of the next older page, null when there is none */
    this.next = null;
    this.loaded = false;
    /** @type {Promise<void> | null} */
    this.refreshing = null;
    this.refreshAgain = false;
    this.unseen = 0;

    elements.loadMore.addEventListener("click", () => this.loadMore());
    elements.newPill.addEventListener("click", () => this.backToTop());
    window.addEventListener("scroll", () => this.onScroll(), { passive: true });
  }

  // --- loading ----------------------------------------------------------------

  /**
   * Read the newest page and merge it. The first call also sets the cursor
   * for "Load more". Calls made while one runs are folded into one more run.
   * @returns {Promise<void>}
   */
  refresh() {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      try {
        do {
          this.refreshAgain = false;
          const page = await api.feed({ limit: PAGE_SIZE });
          const firstLoad = !this.loaded;
          if (firstLoad) {
            this.next = page.next;
            this.loaded = true;
          }
          // After the first load, anything new here was missed live: show it as new.
          this.merge(page.items, { live: !firstLoad });
        } while (this.refreshAgain);
      } catch (error) {
        this.loadFailed(error);
      } finally {
        this.refreshing = null;
        this.elements.list.setAttribute("aria-busy", "false");
        this.drawFooter();
      }
    })();
    return this.refreshing;
  }

  /**
   * Start again from the newest page: after a `resume.gap` the server no
   * longer has the events this page missed (removals among them), so what
   * is on screen is replaced by what the feed holds now.
   * @returns {Promise<void>}
   */
  async reload() {
    let page;
    try {
      page = await api.feed({ limit: PAGE_SIZE });
    } catch (error) {
      this.loadFailed(error);
      return;
    }
    this.elements.list.replaceChildren();
    this.rendered.clear();
    this.next = page.next;
    this.loaded = true;
    this.showUnseen(0);
    this.merge(page.items);
  }

  async loadMore() {
    if (!this.next) return;
    const button = this.elements.loadMore;
    button.disabled = true;
    button.textContent = "Loading…";
    try {
      const page = await api.feed({ limit: PAGE_SIZE, before: this.next });
      this.next = page.next;
      this.merge(page.items, { older: true });
    } catch (error) {
      this.loadFailed(error);
    } finally {
      button.disabled = false;
      button.textContent = "Load more";
      this.drawFooter();
    }
  }

  /** @param {unknown} error */
  loadFailed(error) {
    if (error instanceof ApiError && error.isAuthError) {
      signedOut(); // the session ended: the log-in page says so and brings them back
      return;
    }
    toast(`Could not load your feed: ${error instanceof Error ? error.message : error}`, {
      kind: "error",
    });
  }

  // --- adding items -------------------------------------------------------------

  /**
   * A live item from the socket.
   * @param {FeedItem} item
   */
  addLive(item) {
    this.merge([item], { live: true });
  }

  /**
   * The person's own new post, at once: it is in their own feed too, under
   * the same id (`p:<post>`), so the socket's copy of it only redraws it.
   * @param {Post} post
   */
  addOwnPost(post) {
    const item = {
      id: `p:${post.id}`,
      kind: /** @type {const} */ ("post"),
      actor: post.author,
      post,
      likers: [],
      likers_count: 0,
      created_at: post.created_at,
    };
    this.merge([item], { live: true });
  }

  /**
   * An item left the feed (an unlike, an unfollow, a deleted post).
   * @param {string} id
   */
  remove(id) {
    const element = this.rendered.get(id);
    if (!element) return;
    element.remove();
    this.rendered.delete(id);
    this.drawFooter();
    this.onPostsChanged(this.postIds());
  }

  /**
   * Put items on screen in time order. An item already there (same id) is
   * redrawn where its time now puts it, unless nothing about it changed.
   * @param {FeedItem[]} items
   * @param {{ live?: boolean, older?: boolean }} [options]
   *   live: new events (highlighted); older: a page from "Load more"
   */
  merge(items, { live = false, older = false } = {}) {
    const fresh = items.filter((item) => {
      const shown = this.rendered.get(item.id);
      if (!shown) return true;
      if (shown.dataset.signature === signature(item)) return false;
      if (!older) {
        shown.remove(); // drawn again below, in its new place
        this.rendered.delete(item.id);
      }
      return !older;
    });
    if (!fresh.length) return;

    const atTop = this.isAtTop();
    const anchor = atTop ? null : this.firstVisibleItem();
    const anchorTop = anchor?.getBoundingClientRect().top ?? 0;
    const oldest = this.oldestTime();
    let addedAbove = 0;

    for (const item of fresh) {
      const time = Date.parse(item.created_at);
      // Older than everything shown while more pages wait on the server:
      // "Load more" brings it in its place.
      if (!older && this.next && time < oldest) continue;
      const element = this.renderItem(item);
      element.dataset.signature = signature(item);
      if (live) element.classList.add(atTop ? "slide-in" : "is-new");
      this.insertInOrder(element, time);
      this.rendered.set(item.id, element);
      if (anchor && element.compareDocumentPosition(anchor) & Node.DOCUMENT_POSITION_FOLLOWING) {
        addedAbove += 1;
      }
    }

    if (anchor) {
      // Keep the item being read exactly where it was on screen.
      window.scrollBy(0, anchor.getBoundingClientRect().top - anchorTop);
      if (live) this.showUnseen(this.unseen + addedAbove);
    }
    this.drawFooter();
    this.onPostsChanged(this.postIds());
  }

  /**
   * @param {HTMLElement} element
   * @param {number} time
   */
  insertInOrder(element, time) {
    for (const other of this.elements.list.children) {
      if (Number(/** @type {HTMLElement} */ (other).dataset.time) < time) {
        other.before(element);
        return;
      }
    }
    this.elements.list.append(element);
  }

  /** Post ids on screen, newest first, each once. */
  postIds() {
    const ids = new Set();
    for (const element of this.elements.list.children) {
      ids.add(Number(/** @type {HTMLElement} */ (element).dataset.postId));
    }
    return [...ids].slice(0, MAX_SUBSCRIBED_POSTS);
  }

  oldestTime() {
    const last = /** @type {HTMLElement | null} */ (this.elements.list.lastElementChild);
    return last ? Number(last.dataset.time) : -Infinity;
  }

  // --- rendering ----------------------------------------------------------------

  /**
   * @param {FeedItem} item
   * @returns {HTMLElement}
   */
  renderItem(item) {
    return renderPostCard(item.post, {
      likes: this.likes,
      viewer: this.viewer,
      item,
      onDeleted: () => this.remove(item.id),
    });
  }

  drawFooter() {
    const { note, loadMore, list } = this.elements;
    loadMore.hidden = !this.next;
    if (!this.loaded) return;
    note.textContent = list.children.length
      ? this.next
        ? ""
        : "You’re all caught up."
      : "Your feed is empty. Follow a few people and their posts, and the posts they like, will show up here.";
    note.hidden = !note.textContent;
  }

  // --- scroll position and the "N new" pill -------------------------------------

  /** True while the top of the feed is in view (new items may push it down). */
  isAtTop() {
    return this.elements.list.getBoundingClientRect().top >= headerBottom();
  }

  /** The first item whose lower edge is below the sticky header. */
  firstVisibleItem() {
    const top = headerBottom();
    for (const element of this.elements.list.children) {
      if (element.getBoundingClientRect().bottom > top) return /** @type {HTMLElement} */ (element);
    }
    return null;
  }

  /** @param {number} count */
  showUnseen(count) {
    this.unseen = count;
    const pill = this.elements.newPill;
    pill.hidden = count === 0;
    pill.textContent = `↑ ${count} new`;
    pill.setAttribute("aria-label", `${count} new ${count === 1 ? "item" : "items"}, back to top`);
  }

  backToTop() {
    this.showUnseen(0);
    const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    window.scrollTo({ top: 0, behavior: smooth ? "smooth" : "auto" });
  }

  onScroll() {
    if (this.unseen && this.isAtTop()) this.showUnseen(0);
  }
}

/**
 * What an item's card shows that can change while it is on screen: its
 * place (time) and its social context. (Counts and liked state are the like
 * controller's, kept live on their own.)
 * @param {FeedItem} item
 */
function signature(item) {
  const likers = (item.likers ?? []).map((user) => user.id).join(",");
  return `${item.created_at}|${item.kind}|${item.actor.id}|${likers}|${item.likers_count}`;
}

/** Bottom edge of the sticky top bar: content above it is hidden. */
function headerBottom() {
  const bar = document.querySelector(".topbar");
  return bar ? Math.max(0, bar.getBoundingClientRect().bottom) : 0;
}
