// A newest-first list read page by page (`{items, next}`), for a profile's
// posts and a post's likers. More loads by itself when the end of the list
// comes into view (infinite scroll), and a "Load more" button stays for
// keyboard users and for browsers without IntersectionObserver.

import { ApiError } from "./api.js";
import { signedOut } from "./session.js";

/**
 * @template T
 * @typedef {object} PagerOptions
 * @property {HTMLElement} list where the items go
 * @property {HTMLElement} note the line under it (loading, empty, end, errors)
 * @property {HTMLButtonElement} more the "Load more" button
 * @property {(before: string | null, limit: number) => Promise<{ items: T[], next: string | null }>} load
 * @property {(item: T) => HTMLElement} render
 * @property {(item: T) => string} key an item's identity (nothing is shown twice)
 * @property {string} empty what the note says when there is nothing
 * @property {(items: T[]) => void} [onChange] the items on screen changed
 */

const PAGE_SIZE = 20;
/** The API's largest page: a reload of what is on screen reads at most this much. */
const MAX_PAGE = 100;

/** @template T */
export class Pager {
  /** @param {PagerOptions<T>} options */
  constructor(options) {
    this.options = options;
    /** @type {T[]} */
    this.items = [];
    /** @type {string | null} */
    this.next = null;
    this.loaded = false;
    this.busy = false;
    /** @type {Promise<void> | null} */
    this.reloading = null;
    this.reloadAgain = false;
    options.more.addEventListener("click", () => void this.loadMore());
    /** @type {IntersectionObserver | null} */
    this.observer = null;
    if ("IntersectionObserver" in window) {
      this.observer = new IntersectionObserver(
        (entries) => {
          if (entries.some((entry) => entry.isIntersecting)) void this.loadMore();
        },
        { rootMargin: "400px 0px" },
      );
      this.observer.observe(options.more);
    }
  }

  /** Look again whether the end is in view (a page that did not fill the screen). */
  watchEnd() {
    if (!this.observer) return;
    this.observer.unobserve(this.options.more);
    this.observer.observe(this.options.more);
  }

  /** The first page (again): what is on screen is replaced by it. */
  async start() {
    await this.reload(PAGE_SIZE);
  }

  /**
   * Read the newest items again, as many as are on screen (at most one page
   * of the API's), and show them instead: items that went are dropped, new
   * ones come in at the top. Calls while one runs fold into one more run.
   * @param {number} [limit]
   * @returns {Promise<void>}
   */
  reload(limit = Math.min(MAX_PAGE, Math.max(PAGE_SIZE, this.items.length))) {
    if (this.reloading) {
      this.reloadAgain = true;
      return this.reloading;
    }
    this.reloading = (async () => {
      try {
        do {
          this.reloadAgain = false;
          const page = await this.options.load(null, limit);
          this.items = page.items;
          this.next = page.next;
          this.loaded = true;
          this.draw();
        } while (this.reloadAgain);
      } catch (error) {
        this.failed(error);
      } finally {
        this.reloading = null;
      }
    })();
    return this.reloading;
  }

  async loadMore() {
    if (!this.next || this.busy || this.reloading) return;
    const { more } = this.options;
    this.busy = true;
    more.disabled = true;
    more.textContent = "Loading…";
    try {
      const page = await this.options.load(this.next, PAGE_SIZE);
      const seen = new Set(this.items.map(this.options.key));
      this.items.push(...page.items.filter((item) => !seen.has(this.options.key(item))));
      this.next = page.next;
      this.draw();
    } catch (error) {
      this.failed(error);
    } finally {
      this.busy = false;
      more.disabled = false;
      more.textContent = "Load more";
      this.watchEnd();
    }
  }

  draw() {
    const { list, note, more, render, key, empty } = this.options;
    /** @type {Map<string, Element>} */
    const shown = new Map();
    for (const element of list.children) {
      shown.set(/** @type {HTMLElement} */ (element).dataset.key ?? "", element);
    }
    const elements = this.items.map((item) => {
      const id = key(item);
      const element = /** @type {HTMLElement} */ (shown.get(id) ?? render(item));
      element.dataset.key = id;
      return element;
    });
    list.replaceChildren(...elements);
    list.setAttribute("aria-busy", "false");
    more.hidden = !this.next;
    // "That's everything" only at the end of a list that took more than one page to read.
    const ended = !this.next && this.items.length > PAGE_SIZE;
    note.textContent = this.items.length ? (ended ? "That’s everything." : "") : empty;
    note.hidden = !note.textContent;
    this.options.onChange?.(this.items);
  }

  /** @param {unknown} error */
  failed(error) {
    if (error instanceof ApiError && error.isAuthError) {
      signedOut(); // the session ended: the log-in page says so and brings them back
      return;
    }
    const { note } = this.options;
    note.hidden = false;
    note.textContent = `Could not load this list: ${error instanceof Error ? error.message : error}`;
  }
}
