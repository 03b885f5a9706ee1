// Log in and sign up. Both end with a session cookie (signing up logs the
// new person in) and go on to where they were headed. A refusal that names a
// field (the server's `fields`, or a detail "username: …" / "password: …") is
// shown under that field; any other above the button.

import { api, ApiError } from "../api.js";
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
    clearErrors(form, error);
    submit.disabled = true;
    try {
      if (kind === "signup") await api.register(username, password);
      await api.login(username, password);
      location.assign(nextUrl(form));
    } catch (failure) {
      const message = failure instanceof Error ? failure.message : String(failure);
      const fields = failure instanceof ApiError ? failure.fields : null;
      if (!showFieldError(form, message, fields)) {
        error.textContent = message;
        error.hidden = false;
      }
      submit.disabled = false;
    }
  });
}

/**
 * @param {HTMLFormElement} form
 * @param {HTMLElement} error the form's own error line
 */
function clearErrors(form, error) {
  error.hidden = true;
  for (const element of form.querySelectorAll("[data-field-error]")) {
    if (!(element instanceof HTMLElement)) continue;
    element.hidden = true;
    element.removeAttribute("role");
    form.querySelector(`[name="${element.dataset.fieldError}"]`)?.removeAttribute("aria-invalid");
  }
}

/**
 * Show a refusal under the field it names, if the form has a place for it.
 * @param {HTMLFormElement} form
 * @param {string} message
 * @param {Record<string, unknown> | null} fields
 * @returns {boolean} whether it was shown there
 */
function showFieldError(form, message, fields) {
  /** @type {[string, string][]} */
  const named = [];
  if (fields) {
    for (const [field, value] of Object.entries(fields)) {
      named.push([field, String(Array.isArray(value) ? value[0] : value)]);
    }
  } else {
    const match = /^(\w+): (.+)$/s.exec(message);
    if (match) named.push([match[1], match[2]]);
  }
  let shown = false;
  for (const [field, text] of named) {
    const slot = form.querySelector(`[data-field-error="${field}"]`);
    if (!(slot instanceof HTMLElement)) continue;
    slot.textContent = text.charAt(0).toUpperCase() + text.slice(1);
    slot.hidden = false;
    slot.setAttribute("role", "alert");
    const input = form.querySelector(`[name="${field}"]`);
    input?.setAttribute("aria-invalid", "true");
    if (!shown && input instanceof HTMLElement) input.focus();
    shown = true;
  }
  return shown;
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
