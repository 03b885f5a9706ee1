// What the page does when the server ends this person's access: a logout in
// another tab or device, a revoked token, a deactivated account. The socket
// says so with close code 4401 (live.js); the page goes to the log-in page,
// which says why and brings the person back here afterwards.

/** Set while this tab logs out itself: its own socket's 4401 is expected. */
let leaving = false;

/** This tab is logging out: the log-out itself goes on to the log-in page. */
export function leavingOnPurpose() {
  leaving = true;
}

/** Access ended elsewhere: show the log-in page, back here after logging in. */
export function signedOut() {
  if (leaving) return;
  leaving = true;
  const here = location.pathname + location.search + location.hash;
  location.assign(`/login/?signed_out=1&next=${encodeURIComponent(here)}`);
}
