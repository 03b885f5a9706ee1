// Follow buttons and the "Who to follow" list.

import { api } from "./api.js";
import { avatar, h, plural, userLink } from "./dom.js";
import { toast } from "./toast.js";

/** @typedef {import("./api.js").Profile} Profile */

/**
 * A Follow / Following toggle for one person. It waits for the server before
 * it changes (following is not a hot path, and a wrong "Following" would
 * mislead), and shows that it is working meanwhile.
 * @param {string} username
 * @param {boolean} following
 * @param {(following: boolean) => void} [onChange] after the server agreed
 * @returns {HTMLButtonElement}
 */
export function followButton(username, following, onChange = () => {}) {
  const button = /** @type {HTMLButtonElement} */ (
    h("button", {
      type: "button",
      class: "button follow-button",
      "data-testid": "follow-button",
      "data-username": username,
      // A toggle keeps one name; aria-pressed says whether it is on.
      "aria-label": `Follow ${username}`,
    })
  );
  const draw = (/** @type {boolean} */ isFollowing) => {
    button.setAttribute("aria-pressed", String(isFollowing));
    button.classList.toggle("primary", !isFollowing);
    button.classList.toggle("secondary", isFollowing);
    button.textContent = isFollowing ? "Following" : "Follow";
  };
  draw(following);

  button.addEventListener("click", async () => {
    const want = button.getAttribute("aria-pressed") !== "true";
    button.disabled = true;
    try {
      const answer = await api.setFollowing(username, want);
      draw(answer.following);
      onChange(answer.following);
    } catch (error) {
      toast(`Could not ${want ? "follow" : "unfollow"} ${username}: ${errorText(error)}`, {
        kind: "error",
      });
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/**
 * Fill a "Who to follow" box from GET /api/users/?suggested=1. The box stays
 * hidden when there is nobody to suggest. People followed from the list stay
 * in it (as "Following") until the next visit, so a slip can be undone.
 * @param {HTMLElement} box the section, hidden until filled
 * @param {object} [options]
 * @param {(username: string, following: boolean) => void} [options.onFollowChange]
 * @param {string} [options.except] leave this person out (the one whose page this is)
 */
export async function loadSuggestions(box, { onFollowChange = () => {}, except = "" } = {}) {
  const list = /** @type {HTMLElement} */ (box.querySelector("[data-suggestions]"));
  let people;
  try {
    people = (await api.suggestedUsers()).items.filter((person) => person.username !== except);
  } catch {
    return; // a nice-to-have: the page works without it
  }
  list.replaceChildren(
    ...people.map((person) =>
      h(
        "li",
        { class: "suggestion", "data-testid": "suggestion" },
        avatar(person.username),
        h(
          "div",
          { class: "suggestion-text" },
          userLink(person.username),
          h("span", { class: "muted" }, plural(person.followers_count, "follower")),
        ),
        followButton(person.username, person.is_following, (following) =>
          onFollowChange(person.username, following),
        ),
      ),
    ),
  );
  box.hidden = people.length === 0;
}

/** @param {unknown} error */
const errorText = (error) => (error instanceof Error ? error.message : String(error));
