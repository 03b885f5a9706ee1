// The notifications page: "bob and 3 others liked your post", "bob and 2
// others followed you", newest first, kept live; opening it marks everything
// read (the items that were new keep their mark while the page is open).

import { request } from "../api.js";
import { $, avatar, h, plural, svg, timeAgo, userLink, userUrl } from "../dom.js";
import { onNotification, setUnread } from "../notify.js";

/** @typedef {import("../notify.js").Notification} Notification */

const PAGE_SIZE = 20;
/** Notifications that arrive while the page is open are read after this pause. */
const READ_DEBOUNCE_MS = 1000;
const EXCERPT_CHARS = 140;

const ICONS = {
  like: '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 21s-7.5-4.6-9.6-9.1C.9 8.6 2.9 4.5 6.8 4.5c2.2 0 3.6 1.2 5.2 3.1 1.6-1.9 3-3.1 5.2-3.1 3.9 0 5.9 4.1 4.4 7.4C19.5 16.4 12 21 12 21z"/></svg>',
  follow:
    '<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M9 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zm0 2c-3.3 0-7 1.6-7 4v2h14v-2c0-2.4-3.7-4-7-4zm10-4V7h-2v3h-3v2h3v3h2v-3h3v-2h-3z"/></svg>',
};

/** @param {number} postId */
export const postUrl = (postId) => `/p/${postId}/`;

/**
 * "bob", "bob and carol", "bob and 3 others", each name a link to the person.
 * @param {Notification} n
 * @returns {(Node | string)[]}
 */
export function whoDidIt(n) {
  const [first, second] = n.actors;
  if (n.actors_count === 1 || !first) return [userLink(first?.username ?? "someone")];
  if (n.actors_count === 2 && second) {
    return [userLink(first.username), " and ", userLink(second.username)];
  }
  return [userLink(first.username), ` and ${plural(n.actors_count - 1, "other")}`];
}

/**
 * The sentence of a notification, as plain text ("bob and 3 others liked your post").
 * @param {Notification} n
 */
export function sentence(n) {
  const who = whoDidIt(n)
    .map((part) => (typeof part === "string" ? part : part.textContent))
    .join("");
  return n.kind === "like" ? `${who} liked your post` : `${who} followed you`;
}

/** @param {string} body */
const excerpt = (body) =>
  body.length <= EXCERPT_CHARS ? body : `${body.slice(0, EXCERPT_CHARS - 1)}…`;

/**
 * @param {Notification} n
 * @param {boolean} isNew shown as new (it was unread when it reached this page)
 */
function render(n, isNew) {
  const post = n.post;
  const what =
    n.kind === "like" && post
      ? [" liked ", h("a", { href: postUrl(post.id), class: "notification-target" }, "your post")]
      : [" followed you"];
  return h(
    "li",
    {
      class: `notification${isNew ? " unseen" : ""}`,
      "data-testid": "notification",
      "data-notification-id": n.id,
      "data-kind": n.kind,
    },
    h("span", { class: `notification-icon ${n.kind}` }, svg(ICONS[n.kind])),
    h(
      "div",
      { class: "notification-main" },
      h(
        "div",
        { class: "notification-avatars" },
        n.actors.map((a) =>
          h("a", { href: userUrl(a.username), tabindex: -1, "aria-hidden": "true" }, avatar(a.username)),
        ),
      ),
      h("p", { class: "notification-text" }, ...whoDidIt(n), ...what),
      post ? h("a", { href: postUrl(post.id), class: "notification-post" }, excerpt(post.body)) : null,
      h("p", { class: "notification-time" }, timeAgo(n.updated_at), isNew ? h("span", { class: "new-mark" }, "New") : null),
    ),
  );
}

export async function startNotifications() {
  const list = $("[data-notifications]");
  const note = $("[data-notifications-note]");
  const more = /** @type {HTMLButtonElement} */ ($("[data-notifications-more]"));
  /** @type {Map<number, HTMLElement>} */
  const shown = new Map();
  /** @type {string | null} */
  let next = null;

  const showEmpty = () => {
    note.hidden = shown.size > 0;
    if (!shown.size) note.textContent = "Nothing yet. Likes of your posts and new followers show up here.";
  };

  /**
   * Show `n` (again) where its `updated_at` puts it, as the server orders them:
   * a new like goes to the top, an unlike leaves it where it was.
   * @param {Notification} n
   * @param {boolean} [fromPage] part of a page being loaded: it goes at the end
   */
  const put = (n, fromPage = false) => {
    const old = shown.get(n.id);
    const isNew = !n.read || Boolean(old?.classList.contains("unseen"));
    const element = render(n, isNew);
    const key = [Date.parse(n.updated_at), n.id];
    element.dataset.order = JSON.stringify(key);
    old?.remove();
    shown.delete(n.id);
    const after = [...list.children].find((other) => {
      const [at, id] = JSON.parse(/** @type {HTMLElement} */ (other).dataset.order ?? "[0,0]");
      return at < key[0] || (at === key[0] && id < key[1]);
    });
    if (after) list.insertBefore(element, after);
    else if (fromPage || next === null) list.append(element); // older than all: at the end
    else return; // older than everything loaded: it comes with the next page
    shown.set(n.id, element);
  };

  /** @param {string | null} before */
  const load = async (before) => {
    more.disabled = true;
    try {
      const query = new URLSearchParams({ limit: String(PAGE_SIZE) });
      if (before) query.set("before", before);
      /** @type {{ items: Notification[], next: string | null, unread: number }} */
      const page = await request("GET", `/api/notifications/?${query}`);
      for (const n of page.items) if (!shown.has(n.id)) put(n, true);
      next = page.next;
      more.hidden = next === null;
      showEmpty();
    } catch (error) {
      note.hidden = false;
      note.textContent = `Could not load your notifications: ${error instanceof Error ? error.message : error}`;
    } finally {
      more.disabled = false;
      list.setAttribute("aria-busy", "false");
    }
  };

  const markRead = async () => {
    await request("POST", "/api/notifications/read/");
    setUnread(0);
  };
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let readTimer;
  const markReadSoon = () => {
    clearTimeout(readTimer);
    readTimer = setTimeout(() => {
      if (document.visibilityState === "visible") void markRead();
    }, READ_DEBOUNCE_MS);
  };
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") markReadSoon();
  });

  onNotification(({ notification }) => {
    if (notification.actors_count === 0) {
      shown.get(notification.id)?.remove();
      shown.delete(notification.id);
      showEmpty();
      return;
    }
    put(notification);
    showEmpty();
    markReadSoon();
  });

  more.addEventListener("click", () => void load(next));
  // Scrolling near the end loads the next page; the button stays for keyboards.
  new IntersectionObserver(
    (entries) => {
      if (entries.some((e) => e.isIntersecting) && !more.hidden && !more.disabled) {
        void load(next);
      }
    },
    { rootMargin: "400px" },
  ).observe(more);
  await load(null);
  await markRead();
}
