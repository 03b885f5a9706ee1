// A person's page: who they are, how many follow them, and a follow button.

import { api, ApiError } from "../api.js";
import { $, avatar } from "../dom.js";
import { followButton, loadSuggestions } from "../follow.js";

export async function startUser() {
  const card = $("[data-profile]");
  const username = card.dataset.username ?? "";
  const viewer = document.body.dataset.viewer;
  const followers = $("[data-followers-count]", card);
  const following = $("[data-following-count]", card);
  const note = $("[data-profile-note]", card);

  $("[data-profile-avatar]", card).replaceWith(avatar(username, "avatar-large"));
  void loadSuggestions($("[data-suggestions-box]"), { except: username });

  let profile;
  try {
    profile = await api.user(username);
  } catch (error) {
    note.hidden = false;
    note.textContent =
      error instanceof ApiError && error.status === 404
        ? "There is nobody with this name."
        : `Could not load this page: ${error instanceof Error ? error.message : error}`;
    return;
  } finally {
    card.setAttribute("aria-busy", "false");
  }

  followers.textContent = String(profile.followers_count);
  following.textContent = String(profile.following_count);

  if (profile.username === viewer) {
    note.hidden = false;
    note.textContent = "This is you. Your posts go to the feeds of the people who follow you.";
    return;
  }
  $("[data-profile-actions]", card).append(
    followButton(profile.username, profile.is_following, (isFollowing) => {
      // The server answered; move the count with it (it changes only on a real change).
      if (isFollowing !== profile.is_following) {
        profile.followers_count += isFollowing ? 1 : -1;
        profile.is_following = isFollowing;
        followers.textContent = String(profile.followers_count);
      }
    }),
  );
}
