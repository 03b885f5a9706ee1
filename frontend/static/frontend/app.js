// Entry point of every page: wires the page named by <body data-page>.

import { refreshRelativeTimes } from "./dom.js";
import { logout, startAuth } from "./pages/auth.js";
import { startHome } from "./pages/home.js";
import { startPost } from "./pages/post.js";
import { startNotifications } from "./pages/notifications.js";
import { startUser } from "./pages/user.js";
import { startBell } from "./notify.js";
import { showFlash, toast } from "./toast.js";

/** How often "2 min ago" is brought up to date. */
const RELATIVE_TIME_REFRESH_MS = 30_000;

const pages = {
  home: startHome,
  user: startUser,
  post: startPost,
  notifications: startNotifications,
  login: () => startAuth("login"),
  signup: () => startAuth("signup"),
};

function main() {
  const page = /** @type {keyof typeof pages | undefined} */ (document.body.dataset.page);
  if (page && page in pages) void pages[page]();
  startBell(); // after the page: it uses the page's socket when the page opened one
  showFlash(); // what the page before left to say (a deleted post's page)

  for (const button of document.querySelectorAll("[data-action=logout]")) {
    button.addEventListener("click", () => void logout());
  }
  setInterval(refreshRelativeTimes, RELATIVE_TIME_REFRESH_MS);
}

window.addEventListener("unhandledrejection", (event) => {
  toast(`Something went wrong: ${event.reason?.message ?? event.reason}`, { kind: "error" });
});

main();
