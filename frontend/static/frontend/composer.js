// The composer: a textarea, a counter of characters left, a Post button.
// The button is off while the text is empty or over the limit, so the person
// learns about the limit from the page, not from a refusal.

import { api } from "./api.js";
import { $, plural } from "./dom.js";
import { toast } from "./toast.js";

/** The server's limit (CONTRACT.md), in characters as Python counts them. */
export const MAX_POST_LENGTH = 500;
/** Below this many characters left the counter turns amber. */
const WARN_AT = 20;

/**
 * Characters as the server counts them: code points, so an emoji is one.
 * @param {string} text
 */
export const charCount = (text) => [...text].length;

/**
 * @param {HTMLFormElement} form
 * @param {{ onPosted: (post: import("./api.js").Post) => void }} options
 */
export function setupComposer(form, { onPosted }) {
  const input = /** @type {HTMLTextAreaElement} */ ($("textarea", form));
  const submit = /** @type {HTMLButtonElement} */ ($("[data-testid=post-submit]", form));
  const counter = $("[data-counter]", form);
  let sending = false;

  const update = () => {
    const left = MAX_POST_LENGTH - charCount(input.value);
    const empty = input.value.trim() === "";
    counter.textContent =
      left >= 0 ? `${plural(left, "character")} left` : `${plural(-left, "character")} too many`;
    counter.dataset.level = left < 0 ? "over" : left < WARN_AT ? "warn" : "ok";
    input.setAttribute("aria-invalid", String(left < 0));
    submit.disabled = sending || empty || left < 0;
  };

  const send = async () => {
    if (submit.disabled) return;
    sending = true;
    submit.textContent = "Posting…";
    update();
    try {
      const post = await api.createPost(input.value);
      input.value = "";
      onPosted(post);
      toast("Posted. Your followers will see it in their feeds.");
    } catch (error) {
      toast(`Could not post: ${error instanceof Error ? error.message : error}`, { kind: "error" });
    } finally {
      sending = false;
      submit.textContent = "Post";
      update();
      input.focus();
    }
  };

  input.addEventListener("input", update);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    void send();
  });
  // Ctrl+Enter / Cmd+Enter posts, as in most composers.
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      void send();
    }
  });
  update();
}
