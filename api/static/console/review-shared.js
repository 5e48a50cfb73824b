// @ts-check
// What the review queue (reviews.js) and one review (review-screen.js, review-editor.js) share: the decisions
// in words, the filters carried from the queue to a review and back, a review's address, the queue as last
// listed (sessionStorage, so J / K keep its order across a reload) and the keyboard tests for J / K.

export const DECISION_WORDS = { approve: "Approved", correct: "Corrected", reject: "Rejected" };
const QUEUE_KEY = "ocrq.reviewQueue";

/** @param {string | null | undefined} iso */
export function clock(iso) {
  const t = Date.parse(iso || "");
  return Number.isFinite(t) ? new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }) : "?";
}

/** The query of the current hash (#/reviews?state=…). */
export function hashQuery() {
  return new URLSearchParams(location.hash.split("?")[1] || "");
}

/** The filters a review screen carries along, so J / K and "← Review queue" stay in the same queue. */
export function filtersOf(params) {
  const out = new URLSearchParams();
  for (const k of ["reason", "batch_id"]) if (params.get(k)) out.set(k, params.get(k));
  return out;
}

/** @param {string} id @param {URLSearchParams} filters */
export function reviewHref(id, filters) {
  const q = filters.toString();
  return `#/reviews/${encodeURIComponent(id)}${q ? `?${q}` : ""}`;
}

// ------------------------------------------------------------------ the queue as last listed
/** @returns {{filters: string, ids: string[]}} */
export function savedQueue() {
  try {
    const got = JSON.parse(sessionStorage.getItem(QUEUE_KEY) || "null");
    if (got && typeof got.filters === "string" && Array.isArray(got.ids)) return got;
  } catch {
    /* nothing saved, or storage disabled */
  }
  return { filters: "", ids: [] };
}

/** @param {string} filters @param {string[]} ids */
export function saveQueue(filters, ids) {
  try {
    sessionStorage.setItem(QUEUE_KEY, JSON.stringify({ filters, ids }));
  } catch {
    /* storage disabled: J / K fall back to asking the server */
  }
}

/** @param {KeyboardEvent} event @param {string} letter */
export function isLetter(event, letter) {
  return event.key.toLowerCase() === letter && !event.ctrlKey && !event.metaKey && !event.altKey;
}

export function isTyping(target) {
  return target instanceof HTMLElement && (target.isContentEditable || target.matches("input, textarea, select"));
}
