// Log in and sign up. Both end with a session cookie (signing up logs the
// new person in) and go on to where they were headed.

import { api } from "../api.js";
import { $ } from "../dom.js";
import { leavingOnPurpose } from "../session.js";

/** @param {"login" | "signup"} kind */
export function startAuth(kind) {
  const form = /** @type {HTMLFormElement} */ ($("[data-auth-form]"));
  const error = $("[data-form-error]", form);
  const submit = /** @type {HTMLButtonElement} */ ($("button[type=submit]", form));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const username = String(data.get("username") ?? "").trim();
    const password = String(data.get("password") ?? "");
    error.hidden = true;
    submit.disabled = true;
    try {
      if (kind === "signup") await api.register(username, password);
      await api.login(username, password);
      location.assign(nextUrl(form));
    } catch (failure) {
      error.textContent = failure instanceof Error ? failure.message : String(failure);
      error.hidden = false;
      submit.disabled = false;
    }
  });
}

/**
 * Where to go after logging in: the `data-next` the server wrote into the form
 * (`?next=` checked by Django's `url_has_allowed_host_and_scheme`), and only if
 * it still resolves to this origin (`/\host` and `//host` resolve elsewhere).
 * @param {HTMLFormElement} form
 */
function nextUrl(form) {
  const next = form.dataset.next ?? "/";
  try {
    const target = new URL(next, location.origin);
    if (target.origin === location.origin) return target.pathname + target.search + target.hash;
  } catch {
    // not a URL at all: go home
  }
  return "/";
}

/** Log out, then show the log-in page. */
export async function logout() {
  leavingOnPurpose(); // this tab's own socket closes (4401) as the log-out lands
  try {
    await api.logout();
  } finally {
    location.assign("/login/");
  }
}
