// The bell: the unread notification count in the header and in the tab title
// ("(3) Home · Likefeed"), kept live by the socket's `notification` events.
//
// A page that opened its own LiveConnection (the home feed) passes those
// events on as window events (live.js); on the others the bell opens one of
// its own, which listens to nothing else.

import { request } from "./api.js";
import { connectionsOpened, LiveConnection } from "./live.js";

/** The window event a `notification` socket message becomes (live.js). */
export const NOTIFICATION_EVENT = "likefeed:notification";

/**
 * @typedef {import("./api.js").UserRef} UserRef
 * @typedef {import("./api.js").Post} Post
 * @typedef {{
 *   id: number, kind: "like" | "follow", actors: UserRef[], actors_count: number,
 *   post: Post | null, updated_at: string, read: boolean
 * }} Notification
 * @typedef {{ notification: Notification, unread: number }} NotificationMessage
 */

const baseTitle = document.title.replace(/^\(\d+\+?\) /, "");

/** How many times the count was set: an answer asked for before a later count is stale. */
let writes = 0;

/** @param {number} count */
const short = (count) => (count > 99 ? "99+" : String(count));

/**
 * Show this unread count on the bell and in the tab title.
 * @param {number} count
 */
export function setUnread(count) {
  const bell = document.querySelector("[data-bell]");
  const badge = document.querySelector("[data-bell-count]");
  writes += 1;
  if (!bell || !(badge instanceof HTMLElement)) return;
  badge.hidden = count <= 0;
  badge.textContent = short(count);
  bell.setAttribute("aria-label", count > 0 ? `Notifications, ${count} unread` : "Notifications");
  document.title = count > 0 ? `(${short(count)}) ${baseTitle}` : baseTitle;
}

/**
 * Call `listener` with each live notification (and its unread count).
 * @param {(message: NotificationMessage) => void} listener
 */
export function onNotification(listener) {
  window.addEventListener(NOTIFICATION_EVENT, (event) =>
    listener(/** @type {CustomEvent<NotificationMessage>} */ (event).detail),
  );
}

/** Wire the bell of a signed-in page: its count now, then live. */
export function startBell() {
  if (!document.body.dataset.viewer || !document.querySelector("[data-bell]")) return;
  onNotification(({ unread }) => setUnread(unread));
  if (connectionsOpened === 0) {
    const ignore = () => {};
    new LiveConnection({
      onFeedItem: ignore,
      onPostLikes: ignore,
      onLikeDelivered: ignore,
      onMaybeMissed: ignore,
      onState: ignore,
    }).start();
  }
  const asked = writes;
  request("GET", "/api/me/")
    .then((me) => {
      // A count set meanwhile (live, or the notifications page's read) is newer.
      if (writes === asked) setUnread(me.unread_notifications);
    })
    .catch(() => {}); // the bell stays as it is; the page says what failed
}
