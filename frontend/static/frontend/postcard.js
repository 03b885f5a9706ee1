// A post as a card, for the profile and post pages: avatar, author, time
// (linked to the post's page), body, like button.
//
// A minimal renderer of this page's own: the home feed's cards (feed.js, and
// the card.js that will share them) carry a feed item's social context too.
// When one shared card renderer lands, these pages can take it.

import { avatar, h, postTimeLink, userLink } from "./dom.js";

/** @typedef {import("./api.js").Post} Post */
/** @typedef {import("./likes.js").LikeController} LikeController */

/**
 * @param {Post} post
 * @param {LikeController} likes
 * @param {{ viewer?: string, tag?: string }} [options] viewer: shown as "You";
 *   tag: the element (an `article` in a list, the page's own post otherwise)
 * @returns {HTMLElement}
 */
export function postCard(post, likes, { viewer = "", tag = "article" } = {}) {
  const author = post.author.username;
  const name =
    author === viewer
      ? h("a", { href: `/u/${encodeURIComponent(author)}/`, class: "user-link" }, "You")
      : userLink(author);
  return h(
    tag,
    { class: "card post-card", "data-testid": "post-card", "data-post-id": post.id },
    h(
      "div",
      { class: "post" },
      avatar(author),
      h(
        "div",
        { class: "post-main" },
        h("p", { class: "post-meta" }, name,
          h("span", { class: "dot", "aria-hidden": "true" }, " · "),
          postTimeLink(post.id, post.created_at)),
        h("p", { class: "post-body" }, post.body),
        h("div", { class: "post-actions" }, likes.button(post)),
      ),
    ),
  );
}
