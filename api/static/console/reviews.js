// @ts-check
// Human review (docs/reviews.md), keyboard first:
//   #/reviews?state=&reason=&batch_id=   the queue, oldest first, counts by reason, "More" follows the cursor
//   #/reviews/<id>?reason=&batch_id=     one job: opening it claims it (POST .../review/claim); the image with
//                                        every box, the flagged lines and symbols marked; lines, task fields and
//                                        GS1 values editable; approve (Enter), correct (Ctrl+Enter) or reject.
// J / K move through the queue as it was last listed (kept in sessionStorage, so a reload keeps the order).

// This module is the queue view; one review is review-screen.js (the claim, the decisions, the keys) over
// review-editor.js (the editable values and the image with its boxes); review-shared.js has what they share.

import { api } from "./api.js";
import { $, $$, fullTime, h, when } from "./dom.js";
import {
  DECISION_WORDS, clock, filtersOf, hashQuery, isLetter, isTyping, reviewHref, saveQueue,
} from "./review-shared.js";

export { renderReview } from "./review-screen.js";

const PAGE = 50;
const STATES = ["open", "claimed", "resolved"];

// Short names of the review reasons (shared/reviews/routing.py, shared/labels) for the counts and rows.
const REASON_LABELS = {
  check_digit: "Check digit",
  invalid_date: "Invalid date",
  text_mismatch: "Text ≠ barcode",
  answer_mismatch: "Answer ≠ barcode",
  low_confidence: "Low confidence",
  pages_failed: "Pages failed",
  requested: "Requested",
};

/** @param {string} r */
function reasonLabel(r) {
  return REASON_LABELS[r] || r.replace(/_/g, " ");
}

// ------------------------------------------------------------------ queue view
export function renderReviewQueue(ctx) {
  const { view, mount, signal, fail } = ctx;
  mount("tpl-reviews", "Review queue");
  const params = hashQuery();
  const stateSel = /** @type {HTMLSelectElement} */ ($(view, "#review-state"));
  const reasonSel = /** @type {HTMLSelectElement} */ ($(view, "#review-reason"));
  const batchIn = /** @type {HTMLInputElement} */ ($(view, "#review-batch"));
  const body = $(view, "tbody");
  const table = $(view, ".reviews-table");
  const empty = $(view, ".empty");
  const more = /** @type {HTMLButtonElement} */ ($(view, ".more"));
  const shownText = $(view, ".review-shown");
  const countsBox = $(view, ".review-counts");
  if (STATES.includes(params.get("state") || "")) stateSel.value = params.get("state");
  batchIn.value = params.get("batch_id") || "";
  let wantedReason = params.get("reason") || "";
  let cursor = null;
  let ids = [];
  let pending = null;

  function filters() {
    const q = new URLSearchParams();
    if (stateSel.value !== "open") q.set("state", stateSel.value);
    if (wantedReason) q.set("reason", wantedReason);
    if (batchIn.value.trim()) q.set("batch_id", batchIn.value.trim());
    return q;
  }

  async function load(append) {
    if (pending) pending.abort();
    pending = new AbortController();
    signal.addEventListener("abort", () => pending.abort(), { once: true });
    const q = filters();
    q.set("state", stateSel.value);
    q.set("limit", String(PAGE));
    if (append && cursor) q.set("cursor", cursor);
    body.setAttribute("aria-busy", "true");
    try {
      const data = await api(`/v1/reviews?${q}`, { signal: pending.signal });
      const items = Array.isArray(data.items) ? data.items : [];
      renderCounts(data.counts || {});
      const carried = filtersOf(filters());
      if (!append) {
        ids = [];
        body.replaceChildren();
      }
      body.append(...items.map((item) => row(item, carried)));
      ids.push(...items.map((item) => item.job_id));
      if (stateSel.value === "open") saveQueue(carried.toString(), ids);
      cursor = data.next_cursor || null;
      more.hidden = !cursor;
      table.hidden = ids.length === 0;
      empty.hidden = ids.length > 0;
      empty.textContent = `No ${stateSel.value} reviews${wantedReason ? ` for ${reasonLabel(wantedReason)}` : ""}.`;
      shownText.textContent = ids.length ? `${ids.length} shown` : "";
    } catch (err) {
      fail(err);
    } finally {
      body.removeAttribute("aria-busy");
    }
  }

  function renderCounts(counts) {
    const entries = Object.entries(counts).filter(([, n]) => n > 0);
    countsBox.replaceChildren(...entries.map(([r, n]) => h("button", {
      type: "button", class: `count-chip${r === wantedReason ? " active" : ""}`, dataset: { reason: r },
      "aria-pressed": r === wantedReason ? "true" : "false",
      onclick: () => {
        wantedReason = r === wantedReason ? "" : r;
        changed();
      },
    }, reasonLabel(r), " ", h("span", { class: "count-n" }, String(n)))));
    const reasons = new Set([...Object.keys(counts), wantedReason].filter(Boolean));
    reasonSel.replaceChildren(h("option", { value: "" }, "All reasons"),
      ...[...reasons].map((r) => h("option", { value: r }, `${reasonLabel(r)}${counts[r] ? ` (${counts[r]})` : ""}`)));
    reasonSel.value = wantedReason;
  }

  function changed() {
    cursor = null;
    const q = filters();
    history.replaceState(null, "", q.size ? `#/reviews?${q}` : "#/reviews");
    load(false);
  }
  stateSel.addEventListener("change", changed);
  reasonSel.addEventListener("change", () => {
    wantedReason = reasonSel.value;
    changed();
  });
  $(view, ".review-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    changed();
  });
  more.addEventListener("click", () => load(true));

  // J / K move the focus down / up the rows' links; Enter opens the focused one (it is a link).
  const onKey = (event) => {
    if (!isLetter(event, "j") && !isLetter(event, "k")) return;
    if (isTyping(event.target)) return;
    const links = $$(view, "a.review-link");
    if (!links.length) return;
    event.preventDefault();
    const at = links.indexOf(/** @type {HTMLAnchorElement} */ (document.activeElement));
    const step = isLetter(event, "j") ? 1 : -1;
    const next = at < 0 ? (step > 0 ? 0 : links.length - 1) : Math.min(links.length - 1, Math.max(0, at + step));
    links[next].focus();
    links[next].closest("tr")?.scrollIntoView({ block: "nearest" });
  };
  document.addEventListener("keydown", onKey);
  signal.addEventListener("abort", () => document.removeEventListener("keydown", onKey));
  load(false);
}

function row(item, carried) {
  const r = item.review || {};
  const reasons = Array.isArray(r.reasons) ? r.reasons : [];
  const low = Array.isArray(r.low_confidence) ? r.low_confidence.length : 0;
  let claim = "–";
  if (r.state === "claimed" && r.claimed_by) claim = `${r.claimed_by.name || r.claimed_by.key_id} until ${clock(r.lease_until)}`;
  if (r.state === "resolved") {
    claim = `${DECISION_WORDS[r.decision] || r.decision}${r.resolved_by ? ` by ${r.resolved_by.name || r.resolved_by.key_id}` : ""}`;
  }
  const href = reviewHref(item.job_id, carried);
  const tr = h("tr", { class: "job-row review-row", dataset: { jobId: item.job_id } },
    h("td", { "data-label": "Opened" }, h("time", { datetime: r.opened_at, title: fullTime(r.opened_at) }, when(r.opened_at))),
    h("td", { "data-label": "Job" }, h("a", { href, class: "review-link" }, h("code", null, item.job_id))),
    h("td", { "data-label": "Task" }, item.task || ""),
    h("td", { "data-label": "Reasons" }, h("span", { class: "reason-chips" }, reasons.map((x) =>
      h("span", { class: "badge needs-review", dataset: { reason: x } },
        x === "low_confidence" && low ? `${reasonLabel(x)} · ${low}` : reasonLabel(x))))),
    h("td", { "data-label": "Claim" }, claim),
  );
  tr.addEventListener("click", (event) => {
    if (event.target.closest("a")) return;
    location.hash = href;
  });
  return tr;
}
