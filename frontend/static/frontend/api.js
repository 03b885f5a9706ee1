// The JSON API client: one function per call of shared/CONTRACT.md.
//
// Session-cookie auth: every request goes out with the page's cookies
// (`credentials: "same-origin"`), and unsafe methods carry Django's CSRF token
// from the `csrftoken` cookie in the `X-CSRFToken` header. The token is read
// at each request because logging in rotates it.

/**
 * @typedef {{ id: number, username: string }} UserRef
 * @typedef {{
 *   id: number, author: UserRef, body: string, created_at: string,
 *   like_count: number, likes_version: number, liked_by_me: boolean
 * }} Post
 * @typedef {{
 *   id: string, kind: "post" | "like", actor: UserRef, post: Post,
 *   likers: UserRef[], likers_count: number, created_at: string
 * }} FeedItem
 * @typedef {{ items: FeedItem[], next: string | null }} FeedPage
 * @typedef {{ post_id: number, liked: boolean, like_count: number, likes_version: number }} LikeAnswer
 * @typedef {{ items: Post[], next: string | null }} PostPage
 * @typedef {{ user: UserRef, liked_at: string }} Liker
 * @typedef {{ items: Liker[], next: string | null }} LikerPage
 * @typedef {{
 *   id: number, username: string, followers_count: number,
 *   following_count: number, is_following: boolean
 * }} Profile
 * @typedef {{ id: number, username: string, token: string }} AuthAnswer
 */

const TIMEOUT_MS = 15_000;
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/** An answer other than 2xx, or no answer at all (`status` 0). */
export class ApiError extends Error {
  /**
   * @param {number} status HTTP status, 0 when the request never got an answer
   * @param {string} message one sentence to show a person
   * @param {Record<string, unknown> | null} [fields] per-field validation errors
   */
  constructor(status, message, fields = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.fields = fields;
  }

  /** True when the session is gone and the person must log in again. */
  get isAuthError() {
    return this.status === 401 || this.status === 403;
  }
}

/**
 * @param {string} name
 * @returns {string | null}
 */
function readCookie(name) {
  for (const part of document.cookie.split(";")) {
    const [key, ...rest] = part.trim().split("=");
    if (key === name) return decodeURIComponent(rest.join("="));
  }
  return null;
}

/**
 * Turn an error answer into one readable sentence. The server's errors look like
 * `{"error": code, "detail": "...", "fields": {...}}`; plain DRF ones like
 * `{"detail": "..."}` or `{"field": ["..."]}`.
 * @param {number} status
 * @param {unknown} data
 * @returns {ApiError}
 */
function toApiError(status, data) {
  const body = data && typeof data === "object" ? /** @type {Record<string, any>} */ (data) : {};
  let message = typeof body.detail === "string" ? body.detail : "";
  const fields = body.fields ?? (body.detail === undefined && Object.keys(body).length ? body : null);
  if (!message && fields) {
    const [field, value] = Object.entries(fields)[0];
    const text = Array.isArray(value) ? value[0] : value;
    message = field === "non_field_errors" ? String(text) : `${field}: ${text}`;
  }
  if (!message) message = `The server answered ${status}.`;
  return new ApiError(status, message, fields);
}

/**
 * Send one request and return the decoded JSON answer (`null` for 204).
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<any>}
 */
export async function request(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (!SAFE_METHODS.has(method)) headers["X-CSRFToken"] = readCookie("csrftoken") ?? "";

  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      signal: controller.signal,
    });
  } catch {
    throw new ApiError(0, "Could not reach the server. Check your connection.");
  } finally {
    clearTimeout(timer);
  }

  if (response.status === 204) return null;
  const data = await response.json().catch(() => null);
  if (!response.ok) throw toApiError(response.status, data);
  return data;
}

/**
 * `limit=20&before=…` for a paginated list.
 * @param {number} limit
 * @param {string | null} before
 */
function pageQuery(limit, before) {
  const query = new URLSearchParams({ limit: String(limit) });
  if (before) query.set("before", before);
  return query;
}

/** @param {string} username */
const userPath = (username) => `/api/users/${encodeURIComponent(username)}/`;

export const api = {
  /** @returns {Promise<AuthAnswer>} */
  register: (/** @type {string} */ username, /** @type {string} */ password) =>
    request("POST", "/api/auth/register/", { username, password }),

  /** @returns {Promise<AuthAnswer>} */
  login: (/** @type {string} */ username, /** @type {string} */ password) =>
    request("POST", "/api/auth/login/", { username, password }),

  /** @returns {Promise<null>} */
  logout: () => request("POST", "/api/auth/logout/"),

  /**
   * @param {{ limit?: number, before?: string | null }} [options]
   * @returns {Promise<FeedPage>}
   */
  feed: ({ limit = 20, before = null } = {}) => {
    const query = new URLSearchParams({ limit: String(limit) });
    if (before) query.set("before", before);
    return request("GET", `/api/feed/?${query}`);
  },

  /** @returns {Promise<Post>} */
  createPost: (/** @type {string} */ body) => request("POST", "/api/posts/", { body }),

  /** @returns {Promise<Post>} */
  post: (/** @type {number} */ id) => request("GET", `/api/posts/${id}/`),

  /** Delete one's own post (204). @returns {Promise<null>} */
  deletePost: (/** @type {number} */ id) => request("DELETE", `/api/posts/${id}/`),

  /** @returns {Promise<LikeAnswer>} */
  setLiked: (/** @type {number} */ postId, /** @type {boolean} */ liked) =>
    request(liked ? "POST" : "DELETE", `/api/posts/${postId}/like/`),

  /** @returns {Promise<Profile>} */
  user: (/** @type {string} */ username) => request("GET", userPath(username)),

  /**
   * A person's posts, newest first.
   * @param {string} username
   * @param {{ limit?: number, before?: string | null }} [options]
   * @returns {Promise<PostPage>}
   */
  userPosts: (username, { limit = 20, before = null } = {}) =>
    request("GET", `${userPath(username)}posts/?${pageQuery(limit, before)}`),

  /**
   * Who likes a post, newest first.
   * @param {number} postId
   * @param {{ limit?: number, before?: string | null }} [options]
   * @returns {Promise<LikerPage>}
   */
  postLikes: (postId, { limit = 20, before = null } = {}) =>
    request("GET", `/api/posts/${postId}/likes/?${pageQuery(limit, before)}`),

  /** @returns {Promise<{ following: boolean }>} */
  setFollowing: (/** @type {string} */ username, /** @type {boolean} */ following) =>
    request(following ? "PUT" : "DELETE", `${userPath(username)}follow/`),

  /**
   * Up to 10 people the viewer does not follow yet, most followed first.
   * @returns {Promise<{ items: Profile[] }>}
   */
  suggestedUsers: () => request("GET", "/api/users/?suggested=1"),
};
