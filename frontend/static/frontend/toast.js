// Short messages in the corner of the screen. Errors are announced at once
// (role="alert") and stay longer; the rest are polite status messages.

import { $, h } from "./dom.js";

const SHOW_MS = { info: 4000, error: 7000 };
/** Older toasts give way when more than this many are on screen. */
const MAX_ON_SCREEN = 4;

/**
 * @param {string} message
 * @param {{ kind?: "info" | "error", sticky?: boolean }} [options] a sticky toast stays
 *   until dismissed (a state the page cannot leave by itself)
 * @returns {HTMLElement} the toast, already on screen
 */
export function toast(message, { kind = "info", sticky = false } = {}) {
  const container = $("[data-toasts]");
  const close = () => element.remove();
  const element = h(
    "div",
    {
      class: `toast toast-${kind}`,
      role: kind === "error" ? "alert" : "status",
      "data-testid": "toast",
      "data-kind": kind,
    },
    h("span", { class: "toast-text" }, message),
    h("button", { type: "button", class: "toast-close", "aria-label": "Dismiss", onclick: close }, "×"),
  );
  container.append(element);
  while (container.children.length > MAX_ON_SCREEN) container.firstElementChild?.remove();
  if (!sticky) setTimeout(close, SHOW_MS[kind]);
  return element;
}

/** Where a message for the next page waits (this tab only). */
const FLASH_KEY = "likefeed:flash";

/**
 * Show `message` on the next page this tab loads (after a navigation that
 * leaves the page the message is about, such as a deleted post's).
 * @param {string} message
 */
export function flashNext(message) {
  try {
    sessionStorage.setItem(FLASH_KEY, message);
  } catch {
    // storage refused (private mode, full): the next page just says nothing
  }
}

/** Show the message a previous page left for this one, once. */
export function showFlash() {
  let message = null;
  try {
    message = sessionStorage.getItem(FLASH_KEY);
    sessionStorage.removeItem(FLASH_KEY);
  } catch {
    return;
  }
  if (message) toast(message);
}
