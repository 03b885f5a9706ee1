// One WebSocket per tab to /ws/ (the session cookie authenticates it).
//
// - Reconnects with exponential backoff and jitter, capped at 10 s, and at
//   once when the browser comes back online.
// - Remembers the highest `seq` of the feed events it has passed on; after a
//   reconnect it first asks the server to `resume` after it, then
//   re-subscribes. Events at or below that `seq` are dropped, so a replay
//   never shows an item twice.
// - Tells its listener when events may have been missed (no `seq` to resume
//   from yet, or a hole in the numbers), so the page can re-read the feed,
//   and when the server says they were (`resume.gap`: the log no longer
//   holds them), so the page reloads it.
// - Feed events (`feed.item`, `feed.remove`) share one `seq` counter.
// - Publishes its state for the indicator: "live", "reconnecting", "offline".
// - Stops for good when the server closes it for a reason a retry cannot fix:
//   4401 (this person's access ended: the page goes to the log-in page) and
//   4429 (too many sockets of this person: the page says to close a tab).
//   A handshake refused outright (no close code reaches the page) is asked
//   about: when /api/me/ says the session is gone, that is 4401 too (a
//   session that expired, or ended while the socket was down).

import { request } from "./api.js";
import { signedOut } from "./session.js";
import { toast } from "./toast.js";

/** @typedef {import("./api.js").FeedItem} FeedItem */
/** @typedef {"live" | "reconnecting" | "offline" | "stopped"} LiveState */

/**
 * @typedef {object} LiveHandlers
 * @property {(item: FeedItem) => void} onFeedItem a new or moved item, in `seq` order
 * @property {(id: string) => void} [onFeedRemove] an item left the feed, in `seq` order
 *   (optional, as `onGap`: the pages without a feed, and the bell's socket, get these
 *   events too, since they go to all of a person's sockets)
 * @property {() => void} [onGap] the server no longer has events we missed: reload
 * @property {(postId: number, count: number, version: number) => void} onPostLikes
 * @property {(message: import("./api.js").LikeAnswer) => void} [onMyLike] this person
 *   liked or unliked, in this tab or another (`me.like`)
 * @property {(postId: number, followers: number, ms: number) => void} onLikeDelivered
 * @property {() => void} onMaybeMissed events may have been lost: re-read the feed
 * @property {(state: LiveState, detail: string) => void} onState
 */

const BASE_DELAY_MS = 500;
const MAX_DELAY_MS = 10_000;
/** After this many failed attempts in a row the indicator says "offline". */
const ATTEMPTS_BEFORE_OFFLINE = 5;
/** A connection that stayed open this long resets the backoff. */
const STABLE_MS = 10_000;
const SUBSCRIBE_DEBOUNCE_MS = 250;

/** Close codes of the server's (feed/ws_auth.py, feed/consumers.py) that end retrying. */
export const CLOSE_ACCESS_ENDED = 4401;
export const CLOSE_TOO_MANY = 4429;
export const TOO_MANY_TABS = "Too many open tabs: close one and reload";

/** Whether this tab already said it has too many sockets. */
let tooManyShown = false;

/** Connections this tab made: a page without one gets the bell's own (notify.js). */
export let connectionsOpened = 0;

export class LiveConnection {
  /**
   * @param {LiveHandlers} handlers
   * @param {string} [url] defaults to /ws/ on this page's host
   */
  constructor(handlers, url = defaultUrl()) {
    connectionsOpened += 1;
    this.handlers = handlers;
    this.url = url;
    /** @type {WebSocket | null} */
    this.socket = null;
    /** @type {number | null} highest feed event `seq` passed on, null until the first */
    this.lastSeq = null;
    /** Attempts since the last connection that stayed open. */
    this.failures = 0;
    /** When the current socket opened (ms), 0 while it is not open. */
    this.openedAt = 0;
    /** @type {number[]} the posts we want live counts for */
    this.wantedPosts = [];
    /** @type {string | null} what the server was last told, to skip repeats */
    this.sentPosts = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.subscribeTimer = undefined;
    /** Set by a close a retry cannot fix (4401, 4429): no more connecting. */
    this.stopped = false;

    window.addEventListener("offline", () => this.goOffline());
    window.addEventListener("online", () => this.connectNow());
  }

  start() {
    if (navigator.onLine === false) this.goOffline();
    else this.connect();
  }

  /**
   * Ask for live counts of these posts (the ones on screen). Calls in a burst
   * are merged into one message.
   * @param {number[]} postIds
   */
  subscribe(postIds) {
    this.wantedPosts = postIds;
    clearTimeout(this.subscribeTimer);
    this.subscribeTimer = setTimeout(() => this.sendSubscription(), SUBSCRIBE_DEBOUNCE_MS);
  }

  // --- connection ---------------------------------------------------------

  connect() {
    clearTimeout(this.retryTimer);
    if (this.stopped) return;
    this.setState("reconnecting", this.failures ? "Reconnecting…" : "Connecting…");
    const socket = new WebSocket(this.url);
    this.socket = socket;
    let opened = false;
    socket.addEventListener("open", () => {
      opened = true;
      this.onOpen(socket);
    });
    socket.addEventListener("message", (event) => this.onMessage(event));
    socket.addEventListener("close", (event) => {
      if (!opened && socket === this.socket) this.checkSession();
      this.onClose(socket, event.code);
    });
  }

  /** @param {WebSocket} socket */
  onOpen(socket) {
    if (socket !== this.socket) return;
    this.openedAt = Date.now();
    if (this.lastSeq === null) {
      // Nothing to resume from: whatever happened before this socket opened
      // is only in the feed itself.
      this.handlers.onMaybeMissed();
    } else {
      this.send({ type: "resume", after: this.lastSeq });
    }
    // Always a first message, even for no posts: it tells the server where we
    // stand, so delivery starts now, not after the server's wait for a client
    // that never speaks (START_GRACE_S in feed/consumers.py).
    this.sentPosts = null;
    this.sendSubscription();
    this.setState("live", "Live");
  }

  /**
   * @param {WebSocket} socket
   * @param {number} code the close code the server sent (1006 when none)
   */
  onClose(socket, code) {
    if (socket !== this.socket) return; // an old socket we already replaced
    this.socket = null;
    if (code === CLOSE_ACCESS_ENDED || code === CLOSE_TOO_MANY) {
      this.stop(code);
      return;
    }
    const stable = this.openedAt > 0 && Date.now() - this.openedAt >= STABLE_MS;
    this.openedAt = 0;
    if (navigator.onLine === false) {
      this.goOffline();
      return;
    }
    // A socket that opened and dropped at once (a refusal, a crash loop) does
    // not reset the backoff; one that served for a while does.
    this.failures = stable ? 1 : this.failures + 1;
    const delay = backoff(this.failures);
    const state = this.failures >= ATTEMPTS_BEFORE_OFFLINE ? "offline" : "reconnecting";
    this.setState(state, `Reconnecting in ${Math.ceil(delay / 1000)} s…`);
    this.retryTimer = setTimeout(() => this.connect(), delay);
  }

  /**
   * The server closed the socket for a reason a retry cannot fix: stop, and
   * say so (the log-in page for 4401; for 4429 the indicator and a message
   * that stays).
   * @param {number} code
   */
  stop(code) {
    clearTimeout(this.retryTimer);
    clearTimeout(this.subscribeTimer);
    this.stopped = true;
    this.openedAt = 0;
    if (code === CLOSE_ACCESS_ENDED) {
      this.setState("stopped", "Signed out");
      signedOut();
    } else {
      this.setState("stopped", "Too many tabs"); // short: the header of a phone
      if (!tooManyShown) toast(TOO_MANY_TABS, { kind: "error", sticky: true });
      tooManyShown = true; // one message per tab, not one per socket
    }
  }

  /**
   * A handshake was refused: if the session is gone, stop as for 4401 (the
   * retry already scheduled finds `stopped` set and does nothing).
   */
  checkSession() {
    request("GET", "/api/me/").catch((error) => {
      if (error?.isAuthError && !this.stopped) this.stop(CLOSE_ACCESS_ENDED);
    });
  }

  /** The browser lost the network: stop trying until it is back. */
  goOffline() {
    clearTimeout(this.retryTimer);
    if (this.stopped) return;
    const socket = this.socket;
    this.socket = null;
    this.openedAt = 0;
    socket?.close();
    this.setState("offline", "Offline");
  }

  /** The browser is back online: try at once, with a fresh backoff. */
  connectNow() {
    if (this.socket || this.stopped) return;
    this.failures = 0;
    this.connect();
  }

  // --- messages -----------------------------------------------------------

  /** @param {MessageEvent} event */
  onMessage(event) {
    let message;
    try {
      message = JSON.parse(event.data);
    } catch {
      return;
    }
    switch (message.type) {
      case "feed.item":
        this.onFeedEvent(message.seq, () => this.handlers.onFeedItem(message.item));
        break;
      case "feed.remove":
        this.onFeedEvent(message.seq, () => this.handlers.onFeedRemove?.(message.id));
        break;
      case "resume.gap":
        // What follows counts on from the oldest kept event (the counter may
        // even have started again, after Redis lost its data).
        this.lastSeq = message.oldest - 1;
        this.handlers.onGap?.();
        break;
      case "post.likes":
        this.handlers.onPostLikes(message.post_id, message.like_count, message.likes_version);
        break;
      case "me.like":
        this.handlers.onMyLike?.(message);
        break;
      case "like.delivered":
        this.handlers.onLikeDelivered(message.post_id, message.followers, message.ms);
        break;
      case "notification": // for the bell and the notifications page (notify.js)
        window.dispatchEvent(new CustomEvent("likefeed:notification", { detail: message }));
        break;
      case "error": // the server did not understand something we sent
        console.warn("live:", message.detail);
        break;
      default:
        break; // heartbeats and future message types
    }
  }

  /**
   * @param {number} seq
   * @param {() => void} handle passes the event on
   */
  onFeedEvent(seq, handle) {
    if (this.lastSeq !== null && seq <= this.lastSeq) return; // already passed on
    const hole = this.lastSeq !== null && seq > this.lastSeq + 1;
    this.lastSeq = seq;
    handle();
    // Events between lastSeq and seq are no longer kept by the server.
    if (hole) this.handlers.onMaybeMissed();
  }

  sendSubscription() {
    const key = this.wantedPosts.join(",");
    if (key === this.sentPosts) return;
    if (this.send({ type: "subscribe", posts: this.wantedPosts })) this.sentPosts = key;
  }

  /**
   * @param {object} message
   * @returns {boolean} whether it went out
   */
  send(message) {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  /**
   * @param {LiveState} state
   * @param {string} detail
   */
  setState(state, detail) {
    this.handlers.onState(state, detail);
  }
}

/** ws(s)://<this host>/ws/ */
function defaultUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws/`;
}

/**
 * Delay before retry `n` (1-based): exponential, capped, and half of it
 * random so that the tabs dropped by one server restart do not all come
 * back at the same instant.
 * @param {number} n
 */
export function backoff(n) {
  const ceiling = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** (n - 1));
  return ceiling / 2 + Math.random() * (ceiling / 2);
}
