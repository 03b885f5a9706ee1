// The home feed: renders FeedItems, newest first, each event once.
//
// Items come from three places: pages of GET /api/feed/, live `feed.item`
// messages, and the person's own new posts. All go through `merge`, which
// drops an item already on screen (by its `id`) and puts the others in time
// order. When the person has scrolled into the feed, whatever lands above
// what they are reading is compensated by scrolling, so the text under their
// eyes does not move, and a "N new" pill offers the way back to the top.

import { api, ApiError } from "./api.js";
import { avatar, h, postTimeLink, svg, userLink } from "./dom.js";
import { toast } from "./toast.js";

/** @typedef {import("./api.js").FeedItem} FeedItem */
/** @typedef {import("./api.js").Post} Post */
/** @typedef {import("./likes.js").LikeController} LikeController */

const PAGE_SIZE = 20;
/** The server takes at most this many posts in one subscription (WS_MAX_SUBSCRIBED_POSTS). */
const MAX_SUBSCRIBED_POSTS = 200;

const SMALL_HEART = `
<svg class="context-icon" viewBox="0 0 24 24" width="14" height="14" aria-hidden="true" focusable="false">
  <path d="M12 21s-7.5-4.6-9.6-9.1C.9 8.6 2.9 4.5 6.8 4.5c2.2 0 3.6 1.2 5.2 3.1 1.6-1.9 3-3.1 5.2-3.1 3.9 0 5.9 4.1 4.4 7.4C19.5 16.4 12 21 12 21z"/>
</svg>`;

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
      location.assign(`/login/?next=${encodeURIComponent(location.pathname)}`);
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
   * The person's own new post. Feeds hold what the people you follow do, so
   * it is shown here, on this page, as the person's own item.
   * @param {Post} post
   */
  addOwnPost(post) {
    const item = {
      id: `own-post:${post.id}`,
      kind: /** @type {const} */ ("post"),
      actor: post.author,
      post,
      created_at: post.created_at,
    };
    this.merge([item], { live: true });
  }

  /**
   * Put items on screen in time order, skipping those already there.
   * @param {FeedItem[]} items
   * @param {{ live?: boolean, older?: boolean }} [options]
   *   live: new events (highlighted); older: a page from "Load more"
   */
  merge(items, { live = false, older = false } = {}) {
    const fresh = items.filter((item) => !this.rendered.has(item.id));
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
    const { post, actor } = item;
    const attrs = {
      class: `card feed-item feed-item-${item.kind}`,
      "data-testid": "feed-item",
      "data-item-id": item.id,
      "data-post-id": post.id,
      "data-kind": item.kind,
      "data-time": Date.parse(item.created_at),
    };

    if (item.kind === "like") {
      const whose =
        post.author.username === this.viewer
          ? "your post"
          : [userLink(post.author.username), "’s post"];
      return h(
        "article",
        attrs,
        h("p", { class: "item-context" }, svg(SMALL_HEART), this.name(actor.username), " liked ", whose,
          h("span", { class: "dot", "aria-hidden": "true" }, " · "), postTimeLink(post.id, item.created_at)),
        h("div", { class: "quoted-post" }, this.renderPost(post)),
      );
    }
    return h("article", attrs, this.renderPost(post, { posted: true, time: item.created_at }));
  }

  /**
   * A post: author line, body, like button.
   * @param {Post} post
   * @param {{ posted?: boolean, time?: string }} [options]
   *   posted: say "posted" after the name (the item is the post itself);
   *   time: the time to show, the post's own by default
   */
  renderPost(post, { posted = false, time = post.created_at } = {}) {
    const author = post.author.username;
    return h(
      "div",
      { class: "post" },
      avatar(author),
      h(
        "div",
        { class: "post-main" },
        h("p", { class: "post-meta" }, this.name(author), posted ? " posted" : null,
          h("span", { class: "dot", "aria-hidden": "true" }, " · "), postTimeLink(post.id, time)),
        h("p", { class: "post-body" }, post.body),
        h("div", { class: "post-actions" }, this.likes.button(post)),
      ),
    );
  }

  /**
   * "You" for the viewer, a link to their page for anyone else.
   * @param {string} username
   */
  name(username) {
    return username === this.viewer
      ? h("a", { href: `/u/${encodeURIComponent(username)}/`, class: "user-link" }, "You")
      : userLink(username);
  }

  drawFooter() {
    const { note, loadMore, list } = this.elements;
    loadMore.hidden = !this.next;
    if (!this.loaded) return;
    note.textContent = list.children.length
      ? this.next
        ? ""
        : "You’re all caught up."
      : "Your feed is empty. Follow a few people and their posts and likes will show up here.";
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

/** Bottom edge of the sticky top bar: content above it is hidden. */
function headerBottom() {
  const bar = document.querySelector(".topbar");
  return bar ? Math.max(0, bar.getBoundingClientRect().bottom) : 0;
}
