// The broker's /v1 API, same origin.  The bearer token lives in session
// storage (gone when the tab closes); every call carries it.
const TOKEN_KEY = "dsbroker.token";

export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

export function setToken(t) {
  if (t) sessionStorage.setItem(TOKEN_KEY, t);
  else sessionStorage.removeItem(TOKEN_KEY);
}

// A problem+json answer (or a network failure) as an Error with the
// problem's members.
export class Problem extends Error {
  constructor(status, p) {
    super(p.message || p.title || `HTTP ${status}`);
    this.status = status;
    this.code = p.code || "";
    this.detail = p.detail || "";
    this.hint = p.hint || "";
    this.scope = p.scope || "";
  }
}

// Segments of a path, each percent-encoded.
export function path(...segs) {
  return segs.map((s) => "/" + encodeURIComponent(s)).join("");
}

export async function call(method, url, body, headers = {}) {
  const h = { Accept: "application/json", ...headers };
  const t = token();
  if (t) h.Authorization = `Bearer ${t}`;
  if (body !== undefined) h["Content-Type"] = "application/json";
  let r;
  try {
    r = await fetch(url, {
      method,
      headers: h,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch (e) {
    throw new Problem(0, { message: "the broker cannot be reached", detail: String(e) });
  }
  if (r.status === 204 || r.status === 304) return { status: r.status, etag: r.headers.get("ETag") };
  const text = await r.text();
  let j = null;
  try {
    j = text ? JSON.parse(text) : null;
  } catch {
    j = null;
  }
  if (!r.ok) throw new Problem(r.status, j || { message: text.slice(0, 200) });
  if (j && typeof j === "object" && !Array.isArray(j)) {
    Object.defineProperty(j, "_etag", { value: r.headers.get("ETag"), enumerable: false });
  }
  return j;
}

export const get = (url) => call("GET", url);
