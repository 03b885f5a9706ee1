// One post as a card: the renderer every list of posts uses (the home feed,
// and any page that lists posts: import `renderPostCard`).
//
// A card is the post itself (author, time, body, like button) with, when it
// comes from the home feed, its social context above it: "liked by bob and
// 2 others" (the people you follow who like it, from the FeedItem's `likers`
// and `likers_count`). One card per post, never a card inside a card. Your
// own posts carry a delete button that asks once more before it deletes.

import { api } from "./api.js";
import { avatar, h, postTimeLink, svg, userLink, userUrl } from "./dom.js";
import { toast } from "./toast.js";

/** @typedef {import("./api.js").FeedItem} FeedItem */
/** @typedef {import("./api.js").Post} Post */
/** @typedef {import("./api.js").UserRef} UserRef */
/** @typedef {import("./likes.js").LikeController} LikeController */

const SMALL_HEART = `
<svg class="context-icon" viewBox="0 0 24 24" width="14" height="14" aria-hidden="true" focusable="false">
  <path d="M12 21s-7.5-4.6-9.6-9.1C.9 8.6 2.9 4.5 6.8 4.5c2.2 0 3.6 1.2 5.2 3.1 1.6-1.9 3-3.1 5.2-3.1 3.9 0 5.9 4.1 4.4 7.4C19.5 16.4 12 21 12 21z"/>
</svg>`;

/**
 * @typedef {object} CardContext
 * @property {LikeController} likes draws and drives the like button
 * @property {string} viewer the signed-in person's username ("" when nobody is)
 * @property {FeedItem | null} [item] the feed item the card shows, for its social context
 * @property {(post: Post) => void} [onDeleted] the post was deleted (default: the card goes)
 */

/**
 * A post as a card element (an <article>), with its social context when
 * `context.item` is given.
 * @param {Post} post
 * @param {CardContext} context
 * @returns {HTMLElement}
 */
export function renderPostCard(post, context) {
  const { item = null } = context;
  /** @type {Record<string, string | number>} */
  const attrs = { class: "card post-card", "data-testid": "post-card", "data-post-id": post.id };
  if (item) {
    Object.assign(attrs, {
      class: `card post-card feed-item feed-item-${item.kind}`,
      "data-testid": "feed-item",
      "data-item-id": item.id,
      "data-kind": item.kind,
      "data-time": Date.parse(item.created_at),
    });
  }
  const card = h("article", attrs);
  const line = item ? socialContext(item, context.viewer) : null;
  if (line) card.append(line);
  card.append(renderPost(post, card, context));
  return card;
}

/**
 * "liked by bob", "liked by bob and carol", "liked by bob and 2 others".
 * @param {FeedItem} item
 * @param {string} viewer
 * @returns {HTMLElement | null}
 */
function socialContext(item, viewer) {
  const likers = item.likers ?? [];
  const count = item.likers_count ?? likers.length;
  if (!likers.length || !count) return null;
  const names = [nameOf(likers[0].username, viewer)];
  if (count === 2 && likers.length >= 2) names.push(" and ", nameOf(likers[1].username, viewer));
  else if (count > 1) names.push(` and ${count - 1} ${count - 1 === 1 ? "other" : "others"}`);
  return h(
    "p",
    { class: "item-context", "data-testid": "social-context" },
    svg(SMALL_HEART),
    "liked by ",
    ...names,
  );
}

/**
 * @param {Post} post
 * @param {HTMLElement} card
 * @param {CardContext} context
 */
function renderPost(post, card, context) {
  const author = post.author.username;
  const own = context.viewer !== "" && author === context.viewer;
  return h(
    "div",
    { class: "post" },
    avatar(author),
    h(
      "div",
      { class: "post-main" },
      h("p", { class: "post-meta" }, nameOf(author, context.viewer),
        context.item ? " posted" : null,
        h("span", { class: "dot", "aria-hidden": "true" }, " · "), postTimeLink(post.id, post.created_at)),
      h("p", { class: "post-body" }, post.body),
      h(
        "div",
        { class: "post-actions" },
        context.likes.button(post),
        own ? deleteControl(post, card, context) : null,
      ),
    ),
  );
}

/**
 * "You" for the viewer, a link to their page for anyone else.
 * @param {string} username
 * @param {string} viewer
 */
function nameOf(username, viewer) {
  return username === viewer
    ? h("a", { href: userUrl(username), class: "user-link" }, "You")
    : userLink(username);
}

/**
 * A delete button that turns into "Delete this post? Delete / Cancel".
 * @param {Post} post
 * @param {HTMLElement} card
 * @param {CardContext} context
 */
function deleteControl(post, card, context) {
  const box = h("span", { class: "post-delete" });
  const ask = h(
    "button",
    { type: "button", class: "text-button post-delete-ask", "data-testid": "delete-post" },
    "Delete",
  );
  box.append(ask);
  ask.addEventListener("click", () => {
    const confirm = h(
      "button",
      { type: "button", class: "text-button danger", "data-testid": "delete-confirm" },
      "Delete",
    );
    const cancel = h("button", { type: "button", class: "text-button" }, "Cancel");
    const question = h(
      "span",
      { class: "post-delete-confirm", role: "group", "aria-label": "Delete this post?" },
      h("span", { class: "post-delete-question" }, "Delete this post?"),
      confirm,
      cancel,
    );
    box.replaceChildren(question);
    confirm.focus();
    cancel.addEventListener("click", () => {
      box.replaceChildren(ask);
      ask.focus();
    });
    confirm.addEventListener("click", async () => {
      confirm.disabled = cancel.disabled = true;
      try {
        await api.deletePost(post.id);
      } catch (error) {
        box.replaceChildren(ask);
        toast(`Could not delete the post: ${error instanceof Error ? error.message : error}`, {
          kind: "error",
        });
        return;
      }
      if (context.onDeleted) context.onDeleted(post);
      else card.remove();
    });
  });
  return box;
}
