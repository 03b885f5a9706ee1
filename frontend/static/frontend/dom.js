// Small DOM helpers shared by the pages. Text always goes in as text nodes,
// never as HTML, so nothing a person writes can become markup.

/**
 * @typedef {string | number | Node | null | undefined | false} Child
 * @typedef {Record<string, string | number | boolean | null | undefined | EventListener>} Attrs
 */

/**
 * Create an element: `h("a", { href: "/", class: "x" }, "text", otherNode)`.
 * Attributes named `on<event>` become listeners; `true` sets an empty
 * attribute, `false`/`null`/`undefined` leave it out.
 * @param {string} tag
 * @param {Attrs} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (typeof value === "function") {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (value === true) {
      element.setAttribute(name, "");
    } else if (value !== false && value !== null && value !== undefined) {
      element.setAttribute(name, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

/**
 * Parse trusted, static SVG markup (icons defined in this code, never data).
 * @param {string} markup
 * @returns {SVGElement}
 */
export function svg(markup) {
  const template = document.createElement("template");
  template.innerHTML = markup.trim();
  return /** @type {SVGElement} */ (template.content.firstElementChild);
}

/**
 * The element matching `selector`, or an error naming what the template lacks.
 * @template {Element} [T=HTMLElement]
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {T}
 */
export function $(selector, root = document) {
  const element = root.querySelector(selector);
  if (!element) throw new Error(`Missing element: ${selector}`);
  return /** @type {T} */ (/** @type {unknown} */ (element));
}

/** @param {string} username */
export const userUrl = (username) => `/u/${encodeURIComponent(username)}/`;

/**
 * A link to a person's page.
 * @param {string} username
 * @param {string} [className]
 */
export const userLink = (username, className = "user-link") =>
  h("a", { href: userUrl(username), class: className }, username);

/**
 * A round badge with the person's initial, in a colour derived from the name.
 * @param {string} username
 * @param {string} [extraClass]
 */
export function avatar(username, extraClass = "") {
  let hash = 0;
  for (const char of username) hash = (hash * 31 + (char.codePointAt(0) ?? 0)) >>> 0;
  const element = h(
    "span",
    { class: `avatar ${extraClass}`.trim(), "aria-hidden": "true" },
    [...username][0]?.toUpperCase() ?? "?",
  );
  element.style.setProperty("--avatar-hue", String(hash % 360));
  return element;
}

// --- Relative time ----------------------------------------------------------

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/**
 * "just now", "2 min ago", "3 h ago", "5 d ago", then the date.
 * @param {Date} date
 * @param {Date} [now]
 */
export function relativeTime(date, now = new Date()) {
  const seconds = Math.max(0, Math.round((now.getTime() - date.getTime()) / 1000));
  if (seconds < 45) return "just now";
  if (seconds < HOUR) return `${Math.max(1, Math.round(seconds / MINUTE))} min ago`;
  if (seconds < DAY) return `${Math.floor(seconds / HOUR)} h ago`;
  if (seconds < 7 * DAY) return `${Math.floor(seconds / DAY)} d ago`;
  const sameYear = date.getFullYear() === now.getFullYear();
  return date.toLocaleDateString(undefined, {
    day: "numeric",
    month: "short",
    year: sameYear ? undefined : "numeric",
  });
}

/**
 * A <time> element that `refreshRelativeTimes` keeps current.
 * @param {string} iso
 */
export function timeAgo(iso) {
  const date = new Date(iso);
  return h(
    "time",
    { datetime: iso, title: date.toLocaleString(), "data-relative": true },
    relativeTime(date),
  );
}

/** Rewrite every relative time on the page. */
export function refreshRelativeTimes() {
  const now = new Date();
  for (const element of document.querySelectorAll("time[data-relative]")) {
    const iso = element.getAttribute("datetime");
    if (iso) element.textContent = relativeTime(new Date(iso), now);
  }
}

/**
 * Call `fn` once, `wait` ms after the last of a burst of calls.
 * @param {() => void} fn
 * @param {number} wait
 * @returns {() => void}
 */
export function debounce(fn, wait) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(fn, wait);
  };
}

const COMPACT = new Intl.NumberFormat("en", { notation: "compact", maximumFractionDigits: 1 });
const EXACT = new Intl.NumberFormat("en");

/**
 * A count as people read them in a feed: "999", "1.2K", "12K", "3.4M".
 * @param {number} count
 */
export const compactCount = (count) => (count < 1000 ? String(count) : COMPACT.format(count));

/**
 * "1,234,567": the exact number, for a title beside a compact one.
 * @param {number} count
 */
export const exactCount = (count) => EXACT.format(count);

/** @param {number} postId */
export const postUrl = (postId) => `/p/${postId}/`;

/**
 * A post's time, linked to its page (every post's timestamp is its permalink).
 * @param {number} postId
 * @param {string} iso
 */
export const postTimeLink = (postId, iso) =>
  h("a", { href: postUrl(postId), class: "post-time", "data-testid": "post-link" }, timeAgo(iso));

/**
 * Call `fn` at once, then at most once per `wait` ms however often it is
 * asked: the calls in between fold into one at the end of the interval.
 * @param {() => void} fn
 * @param {number} wait
 * @returns {() => void}
 */
export function throttle(fn, wait) {
  let last = -Infinity;
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  return () => {
    if (timer !== undefined) return; // one call is already due
    const due = last + wait - Date.now();
    const run = () => {
      timer = undefined;
      last = Date.now();
      fn();
    };
    if (due <= 0) run();
    else timer = setTimeout(run, due);
  };
}

/**
 * "1 follower", "3 followers".
 * @param {number} count
 * @param {string} one
 * @param {string} [many]
 */
export const plural = (count, one, many = `${one}s`) =>
  `${exactCount(count)} ${count === 1 ? one : many}`;
