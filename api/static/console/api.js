// The REST API as the console uses it: the key lives in sessionStorage and travels only in the
// Authorization header (never in a URL); every error becomes an ApiError with words for people.

const KEY_NAME = "ocrq.apiKey";

export function getKey() {
  try {
    return sessionStorage.getItem(KEY_NAME);
  } catch {
    return null;
  }
}

export function setKey(key) {
  sessionStorage.setItem(KEY_NAME, key);
}

export function clearKey() {
  try {
    sessionStorage.removeItem(KEY_NAME);
  } catch {
    /* storage disabled: nothing to clear */
  }
}

const STATUS_WORDS = {
  400: "The request was not accepted",
  401: "The API key was not accepted",
  403: "Not allowed",
  404: "Not found",
  409: "Conflict",
  410: "Expired",
  413: "The file is too large",
  415: "Not a supported image",
  422: "Some values are not valid",
  429: "Too many requests",
  500: "The server had a problem",
  502: "The server could not be reached",
  503: "The service is busy or unavailable",
  504: "The server took too long",
};

export class ApiError extends Error {
  constructor({ status, title, detail, code, errors, retryAfter }) {
    super(detail || title || `HTTP ${status}`);
    this.status = status;
    this.title = title || STATUS_WORDS[status] || `Error ${status}`;
    this.detail = detail || "";
    this.code = code || "";
    this.errors = Array.isArray(errors) ? errors : [];
    this.retryAfter = retryAfter;
    // One readable sentence; never raw JSON, never a stack trace.
    this.message = this.detail ? `${this.title}: ${this.detail}` : this.title;
  }
}

export class SignedOut extends ApiError {}

function text(value, max = 500) {
  return typeof value === "string" ? value.slice(0, max) : "";
}

async function toError(resp) {
  const retryAfter = Number(resp.headers.get("Retry-After")) || undefined;
  const type = resp.headers.get("Content-Type") || "";
  let body = null;
  if (type.includes("json")) {
    try {
      body = await resp.json();
    } catch {
      body = null;
    }
  }
  // problem+json: {type, title, status, detail, errors?}; anything else (an HTML page from a
  // proxy, a plain-text 502) is summarised from the status alone, its body is never shown.
  const problem = body && typeof body === "object" ? body : {};
  const code = text(problem.type).replace(/^urn:ocrq:problem:/, "");
  const errors = Array.isArray(problem.errors)
    ? problem.errors.filter((e) => e && typeof e === "object").map((e) => ({ field: text(e.field, 100), message: text(e.message, 300) }))
    : [];
  let detail = text(problem.detail);
  if (resp.status === 429 && retryAfter && !detail) detail = `retry in ${retryAfter} s`;
  const Cls = resp.status === 401 ? SignedOut : ApiError;
  return new Cls({ status: resp.status, title: text(problem.title, 200) || STATUS_WORDS[resp.status], detail, code, errors, retryAfter });
}

/** fetch() with the key; resolves to the parsed JSON (or the Response when raw), throws ApiError. */
export async function api(path, { method = "GET", body, signal, raw = false, key } = {}) {
  const token = key || getKey();
  const headers = { Accept: "application/json, application/problem+json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  let payload = body;
  if (body && !(body instanceof FormData) && typeof body === "object") {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: payload, signal, credentials: "omit", cache: "no-store" });
  } catch (err) {
    if (err && err.name === "AbortError") throw err;
    throw new ApiError({ status: 0, title: "The server could not be reached", detail: "check the connection and try again" });
  }
  if (!resp.ok) throw await toError(resp);
  if (raw) return resp;
  if (resp.status === 204) return null;
  try {
    return await resp.json();
  } catch {
    throw new ApiError({ status: resp.status, title: "Unexpected answer", detail: "the server did not answer with JSON" });
  }
}

export function errorText(err) {
  if (err instanceof ApiError) return err.message;
  return "Something went wrong in the page. Reload it and try again.";
}
