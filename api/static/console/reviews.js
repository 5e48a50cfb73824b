// @ts-check
// Human review (docs/reviews.md), keyboard first:
//   #/reviews?state=&reason=&batch_id=   the queue, oldest first, counts by reason, "More" follows the cursor
//   #/reviews/<id>?reason=&batch_id=     one job: opening it claims it (POST .../review/claim); the image with
//                                        every box, the flagged lines and symbols marked; lines, task fields and
//                                        GS1 values editable; approve (Enter), correct (Ctrl+Enter) or reject.
// J / K move through the queue as it was last listed (kept in sessionStorage, so a reload keeps the order).

import { api, ApiError, errorText } from "./api.js";
import { $, $$, fullTime, h, percent, showError, svg, when } from "./dom.js";
import { reviewText } from "./job.js";

const PAGE = 50;
const LEASE_S = 300; // a job skipped with J stays claimed at most this long
const RENEW_MS = 120_000; // the claim is renewed while the screen is open
const QUEUE_KEY = "ocrq.reviewQueue";
const STATES = ["open", "claimed", "resolved"];
const CHECK_DELAY_MS = 200;

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
const MORE_WORDS = {
  low_confidence: "Some lines or symbols were read with low confidence; they are marked.",
  answer_mismatch: "The answer gives a barcode value that the barcode itself does not say.",
  requested: "Every job of this kind is reviewed (review=always).",
};
const DECISION_WORDS = { approve: "Approved", correct: "Corrected", reject: "Rejected" };

/** @param {string} r */
function reasonLabel(r) {
  return REASON_LABELS[r] || r.replace(/_/g, " ");
}

/** @param {string} r */
function reasonText(r) {
  return MORE_WORDS[r] || reviewText(r);
}

/** @param {string | null | undefined} iso */
function clock(iso) {
  const t = Date.parse(iso || "");
  return Number.isFinite(t) ? new Date(t).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }) : "?";
}

/** The query of the current hash (#/reviews?state=…). */
function hashQuery() {
  return new URLSearchParams(location.hash.split("?")[1] || "");
}

/** The filters a review screen carries along, so J / K and "← Review queue" stay in the same queue. */
function filtersOf(params) {
  const out = new URLSearchParams();
  for (const k of ["reason", "batch_id"]) if (params.get(k)) out.set(k, params.get(k));
  return out;
}

/** @param {string} id @param {URLSearchParams} filters */
function reviewHref(id, filters) {
  const q = filters.toString();
  return `#/reviews/${encodeURIComponent(id)}${q ? `?${q}` : ""}`;
}

// ------------------------------------------------------------------ the queue as last listed
/** @returns {{filters: string, ids: string[]}} */
function savedQueue() {
  try {
    const got = JSON.parse(sessionStorage.getItem(QUEUE_KEY) || "null");
    if (got && typeof got.filters === "string" && Array.isArray(got.ids)) return got;
  } catch {
    /* nothing saved, or storage disabled */
  }
  return { filters: "", ids: [] };
}

/** @param {string} filters @param {string[]} ids */
function saveQueue(filters, ids) {
  try {
    sessionStorage.setItem(QUEUE_KEY, JSON.stringify({ filters, ids }));
  } catch {
    /* storage disabled: J / K fall back to asking the server */
  }
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

/** @param {KeyboardEvent} event @param {string} letter */
function isLetter(event, letter) {
  return event.key.toLowerCase() === letter && !event.ctrlKey && !event.metaKey && !event.altKey;
}

function isTyping(target) {
  return target instanceof HTMLElement && (target.isContentEditable || target.matches("input, textarea, select"));
}

// ------------------------------------------------------------------ one review
export function renderReview(jobId, ctx) {
  const { view, mount, fail } = ctx;
  mount("tpl-review", `Review ${jobId}`);
  $(view, ".job-id").textContent = jobId;
  const filters = filtersOf(hashQuery());
  const back = /** @type {HTMLAnchorElement} */ ($(view, ".back"));
  back.href = filters.size ? `#/reviews?${filters}` : "#/reviews";
  /** @type {HTMLAnchorElement} */ ($(view, ".job-link")).href = `#/jobs/${encodeURIComponent(jobId)}`;
  open(jobId, filters, ctx).catch((err) => fail(err));
}

/** Every result as pages: an image is one page; a document's page has its own lines (and picture). */
function pagesOf(job) {
  const result = job.result || {};
  const base = job.links.image;
  if (Array.isArray(result.pages) && result.pages.length && job.pages_total !== undefined && job.pages_total !== null) {
    return result.pages.map((p) => ({
      number: p.page, width: p.width || 1, height: p.height || 1, document: true,
      lines: Array.isArray(p.lines) ? p.lines : [], image: `${base}?page=${encodeURIComponent(p.page)}`,
      barcodes: [],
    }));
  }
  return [{
    number: 1, width: (result.image && result.image.width) || 1, height: (result.image && result.image.height) || 1,
    document: false, lines: Array.isArray(result.lines) ? result.lines : [], image: base,
    barcodes: Array.isArray(result.barcodes) ? result.barcodes : [],
  }];
}

async function open(jobId, filters, ctx) {
  const { view, signal, go } = ctx;
  const path = `/v1/jobs/${encodeURIComponent(jobId)}`;
  let job = await api(path, { signal });
  let refused = null; // the claim's 409 (held by someone else, resolved, not reviewable), shown as it came
  let mine = false;
  if (job.review && job.review.state !== "resolved") {
    try {
      const answer = await api(`${path}/review/claim?lease_s=${LEASE_S}`, { method: "POST", signal });
      job.review = answer.review;
      mine = true;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 409) throw err;
      refused = err;
      job = await api(path, { signal }); // who holds it now, and until when
    }
  }
  if (signal.aborted) return;
  const screen = new ReviewScreen(job, mine, filters, ctx);
  screen.showClaim(refused);
  if (mine) {
    const renew = setInterval(() => {
      api(`${path}/review/claim?lease_s=${LEASE_S}`, { method: "POST", signal })
        .then((answer) => screen.renewed(answer.review))
        .catch((err) => screen.lost(err));
    }, RENEW_MS);
    signal.addEventListener("abort", () => clearInterval(renew));
  }
  screen.keyboard(go);
}

class ReviewScreen {
  constructor(job, mine, filters, ctx) {
    this.job = job;
    this.review = job.review || null;
    this.mine = mine;
    this.filters = filters;
    this.ctx = ctx;
    this.view = ctx.view;
    this.view.dataset.job = job.id; // which job this screen shows, while the next one loads
    this.busy = false;
    /** @type {Array<{kind: string, input: HTMLInputElement, original: string, flagged: boolean, page: number, index?: number, barcode?: number, ai?: string, name?: string, note: HTMLElement, invalid?: boolean, check?: AbortController}>} */
    this.items = [];
    this.pages = pagesOf(job);
    this.images = new Map();
    this.pageShown = -1;
    ctx.signal.addEventListener("abort", () => {
      for (const url of this.images.values()) URL.revokeObjectURL(url);
      if (this.view.dataset.job === job.id) delete this.view.dataset.job;
    });
    this.render();
  }

  // ---------------------------------------------------------------- what is flagged
  flags() {
    const r = this.review || {};
    const reasons = Array.isArray(r.reasons) ? r.reasons : [];
    const lines = new Set();
    const codes = new Set();
    for (const low of Array.isArray(r.low_confidence) ? r.low_confidence : []) {
      if (Number.isInteger(low.line)) lines.add(`${low.page || 1}:${low.line}`);
      if (Number.isInteger(low.barcode)) codes.add(low.barcode);
    }
    // text_mismatch names no line: the printed number is a line with a long run of digits.
    const numbers = reasons.includes("text_mismatch");
    return { reasons, lines, codes, numbers };
  }

  render() {
    const { view, job } = this;
    const r = this.review;
    const stateBadge = $(view, ".review-state");
    if (r) {
      stateBadge.hidden = false;
      stateBadge.textContent = r.state === "resolved" ? DECISION_WORDS[r.decision] || "Resolved" : r.state === "claimed" ? "Claimed" : "Open";
      stateBadge.className = `badge review-state state-${r.state}`;
      const card = $(view, ".reasons-card");
      card.hidden = false;
      $(card, ".review-list").replaceChildren(...(r.reasons || []).map((x) =>
        h("li", { dataset: { reason: x } }, reasonText(x), h("code", { class: "reason-code" }, x))));
    }
    if (job.status !== "succeeded" || !job.result) return; // the claim card says why
    $(view, ".review-grid").hidden = false;
    const flags = this.flags();
    const box = $(view, ".review-items");
    box.replaceChildren();
    const gs1 = this.gs1Section(flags);
    if (gs1) box.append(gs1);
    const fields = this.fieldsSection(flags);
    if (fields) box.append(fields);
    // A barcodes-only job has no text lines: no empty "Lines" section under its GS1 values.
    if (!gs1 || this.pages.some((p) => p.lines.length)) box.append(this.linesSection(flags));
    const editable = this.mine;
    for (const item of this.items) {
      item.input.disabled = !editable;
      // Tab goes from flagged item to flagged item; the others are reached by click, tap or the arrow keys.
      item.input.tabIndex = item.flagged ? 0 : -1;
    }
    for (const b of $$(view, ".decision-buttons button, #review-note")) b.disabled = !editable;
    const flaggedCount = this.items.filter((i) => i.flagged).length;
    $(view, ".box-count").textContent = `${flaggedCount} flagged`;
    this.showPage(0);
    this.wire();
  }

  /** One editable row: a label, an input with its original value, the place for its message. */
  item(spec, labelText, extra) {
    const id = `ri-${this.items.length}`;
    const input = h("input", {
      id, type: "text", class: `review-input${spec.flagged ? " flagged" : ""}`, autocomplete: "off", spellcheck: "false",
      dataset: { kind: spec.kind },
    });
    input.value = spec.original;
    const note = h("p", { class: "item-note", id: `${id}-note`, "aria-live": "polite" });
    input.setAttribute("aria-describedby", note.id);
    const entry = { ...spec, input, note };
    this.items.push(entry);
    const wrap = h("div", { class: `review-item${spec.flagged ? " is-flagged" : ""}`, dataset: { item: String(this.items.length - 1) } },
      h("label", { for: id, class: "item-label" }, labelText, spec.flagged ? h("span", { class: "flag" }, "flagged") : null, extra || null),
      input, note);
    return { wrap, entry };
  }

  gs1Section(flags) {
    const barcodes = this.pages[0].document ? [] : this.pages[0].barcodes;
    const blocks = [];
    barcodes.forEach((b, bi) => {
      const g = b.gs1;
      const elements = g && Array.isArray(g.elements) ? g.elements : [];
      if (!elements.length) return;
      const errors = Array.isArray(g.errors) ? g.errors : [];
      const rows = elements.map((e) => {
        const own = errors.filter((x) => x && x.ai === e.ai);
        const flagged = own.length > 0 || flags.codes.has(bi) || (errors.some((x) => x && !x.ai));
        const { wrap, entry } = this.item({ kind: "gs1", original: String(e.data ?? e.value ?? ""), flagged, page: 1, barcode: bi, ai: e.ai },
          `(${e.ai}) ${e.title || ""}`.trim());
        if (own.length) this.say(entry, own.map((x) => x.message || x.code).join("; "), "bad");
        return wrap;
      });
      blocks.push(h("div", { class: "review-barcode", dataset: { barcodeIndex: String(bi) } },
        h("h3", null, `Barcode ${bi + 1}`, h("span", { class: "muted" }, ` ${b.format || ""}`),
          b.confidence !== undefined && Number.isFinite(b.confidence) ? h("span", { class: "muted" }, ` · ${percent(b.confidence)}`) : null),
        ...rows));
    });
    return blocks.length ? h("section", { class: "review-gs1" }, h("h2", null, "GS1 values"), ...blocks) : null;
  }

  fieldsSection(flags) {
    const fields = this.job.result.fields;
    if (!fields || typeof fields !== "object" || Array.isArray(fields)) return null;
    const entries = Object.entries(fields);
    if (!entries.length) return null;
    const flagged = flags.reasons.includes("answer_mismatch");
    return h("section", { class: "review-fields" }, h("h2", null, "Fields"), ...entries.map(([name, v]) => {
      const original = v === null || v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
      return this.item({ kind: "field", original, flagged, page: 1, name }, name).wrap;
    }));
  }

  linesSection(flags) {
    const groups = this.pages.map((p, pi) => {
      const rows = p.lines.map((line, li) => {
        const text = String(line.text ?? "");
        const flagged = flags.lines.has(`${p.number}:${li}`) || (flags.numbers && /\d{8,}/.test(text.replace(/\s/g, "")));
        const conf = Number.isFinite(line.confidence)
          ? h("span", { class: `line-conf${flagged ? " low" : ""}` }, percent(line.confidence)) : null;
        const label = p.document ? `Page ${p.number}, line ${li + 1}` : `Line ${li + 1}`;
        const { wrap } = this.item({ kind: "line", original: text, flagged, page: pi, index: li }, label, conf);
        return wrap;
      });
      return h("div", { class: "review-page-lines" }, p.document ? h("h3", null, `Page ${p.number}`) : null,
        rows.length ? rows : h("p", { class: "muted" }, "No text lines."));
    });
    return h("section", { class: "review-lines" }, h("h2", null, "Lines"), ...groups);
  }

  // ---------------------------------------------------------------- the image
  showPage(pi) {
    if (pi === this.pageShown || !this.pages[pi]) return;
    this.pageShown = pi;
    const page = this.pages[pi];
    const { view } = this;
    const figure = $(view, ".figure");
    const layer = $(view, ".overlay");
    figure.style.aspectRatio = `${page.width} / ${page.height}`;
    // A tall receipt must not push the list off the screen: the picture keeps to 60 % of its height (40 % upright).
    figure.style.maxWidth = `calc(${window.innerWidth < 900 ? 40 : 60}vh * ${page.width / page.height})`;
    layer.setAttribute("viewBox", `0 0 ${page.width} ${page.height}`);
    const label = $(view, ".review-page");
    label.hidden = !page.document;
    label.textContent = page.document ? `Page ${page.number}` : "";
    const shapes = [];
    this.items.forEach((item, n) => {
      let src = null;
      let cls = "";
      if (item.kind === "line" && item.page === pi) {
        src = page.lines[item.index ?? -1];
        cls = "ocr-box";
      } else if (item.kind === "gs1" && pi === 0 && !page.document) {
        src = page.barcodes[item.barcode ?? -1];
        cls = "barcode-box";
        if (shapes.some((s) => s.dataset.barcode === String(item.barcode))) {
          if (item.flagged) shapes.find((s) => s.dataset.barcode === String(item.barcode))?.classList.add("flagged");
          return; // one box per symbol, however many values it has
        }
      }
      if (!src || !Array.isArray(src.box) || src.box.length !== 4) return;
      const [x0, y0, x1, y1] = src.box;
      const shape = svg("rect", {
        class: `${cls}${item.flagged ? " flagged" : ""}`, "vector-effect": "non-scaling-stroke",
        x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0), dataset: { item: String(n) },
      });
      if (item.kind === "gs1") shape.dataset.barcode = String(item.barcode);
      shape.append(svg("title", null, item.original));
      shapes.push(shape);
    });
    // Barcodes and flagged boxes on top: they are what the reviewer is here for.
    shapes.sort((a, b) => Number(a.classList.contains("flagged") || a.classList.contains("barcode-box"))
      - Number(b.classList.contains("flagged") || b.classList.contains("barcode-box")));
    layer.replaceChildren(...shapes);
    this.loadImage(page).catch(() => {});
  }

  async loadImage(page) {
    const figure = $(this.view, ".figure");
    const img = /** @type {HTMLImageElement} */ ($(this.view, ".doc-img"));
    figure.classList.remove("loaded", "no-image");
    for (const el of $$(figure, ".figure-missing")) el.remove();
    img.alt = page.document ? `Page ${page.number} of the submitted document` : "The submitted image";
    let url = this.images.get(page.image);
    try {
      if (!url) {
        // The image needs the key: fetched, then shown from a blob.
        const resp = await api(page.image, { raw: true, signal: this.ctx.signal });
        url = URL.createObjectURL(await resp.blob());
        this.images.set(page.image, url);
      }
      if (this.pages[this.pageShown] !== page) return;
      await new Promise((resolve) => {
        img.addEventListener("load", resolve, { once: true });
        img.addEventListener("error", resolve, { once: true });
        img.src = url;
      });
      figure.classList.add("loaded");
    } catch (err) {
      if (err.name === "AbortError") return;
      figure.classList.add("no-image");
      figure.append(h("p", { class: "figure-missing muted" }, `The picture cannot be shown: ${errorText(err)}`));
    }
  }

  /** The box of the focused item is selected, on its page. */
  select(item) {
    const n = this.items.indexOf(item);
    if (item.kind === "line") this.showPage(item.page);
    else this.showPage(0);
    for (const el of $$(this.view, ".overlay .selected")) el.classList.remove("selected");
    const shape = item.kind === "gs1"
      ? $(this.view, `.overlay [data-barcode="${item.barcode}"]`)
      : $(this.view, `.overlay [data-item="${n}"]`);
    if (shape) shape.classList.add("selected");
  }

  // ---------------------------------------------------------------- claim
  showClaim(refused) {
    const card = $(this.view, ".claim-card");
    const r = this.review || {};
    card.hidden = false;
    card.className = "card claim-card";
    if (refused) {
      const holder = r.claimed_by;
      card.classList.add("claim-other");
      if (refused.code === "review_claimed" && holder) {
        card.replaceChildren(
          h("p", { class: "claim-who" }, `Claimed by ${holder.name || holder.key_id} until ${clock(r.lease_until)}`,
            h("span", { class: "muted" }, ` (${when(r.lease_until)})`)),
          h("p", { class: "muted" }, "You can look, not change it; it is open to everyone again when the claim ends."),
          h("p", { class: "muted claim-detail" }, refused.message));
      } else {
        card.replaceChildren(h("p", { class: "claim-who" }, refused.message));
      }
      if (r.state === "resolved") card.append(this.resolvedText(r));
      return;
    }
    if (!this.review) {
      card.classList.add("claim-other");
      card.replaceChildren(h("p", { class: "claim-who" }, "This job has no review: it was not routed to one."));
      return;
    }
    if (r.state === "resolved") {
      card.replaceChildren(this.resolvedText(r));
      return;
    }
    card.classList.add("claim-mine");
    card.replaceChildren(h("p", { class: "claim-who" }, `You are reviewing this job until ${clock(r.lease_until)}`,
      h("span", { class: "muted" }, " (renewed while this page is open)")));
  }

  resolvedText(r) {
    const by = r.resolved_by ? ` by ${r.resolved_by.name || r.resolved_by.key_id}` : "";
    const why = r.reject_reason ? `: ${r.reject_reason}` : "";
    return h("p", { class: "claim-who" }, `${DECISION_WORDS[r.decision] || "Resolved"}${by} ${when(r.resolved_at)}${why}`,
      r.note ? h("span", { class: "muted" }, ` · “${r.note}”`) : null);
  }

  renewed(review) {
    this.review = review;
    this.showClaim(null);
  }

  lost(err) {
    if (err && err.name === "AbortError") return;
    this.mine = false;
    for (const item of this.items) item.input.disabled = true;
    for (const b of $$(this.view, ".decision-buttons button, #review-note")) b.disabled = true;
    const card = $(this.view, ".claim-card");
    card.className = "card claim-card claim-other";
    card.replaceChildren(h("p", { class: "claim-who" }, `Your claim could not be renewed: ${errorText(err)}`));
  }

  // ---------------------------------------------------------------- editing
  say(item, text, kind) {
    item.note.textContent = text || "";
    item.note.className = `item-note${kind ? ` ${kind}` : ""}`;
    item.input.setAttribute("aria-invalid", kind === "bad" ? "true" : "false");
    item.input.closest(".review-item")?.classList.toggle("invalid", kind === "bad");
  }

  changed() {
    return this.items.filter((i) => i.input.value !== i.original);
  }

  /** A GS1 value is checked by the server's own rules as it is typed (GET /console/gs1-check). */
  check(item) {
    if (item.check) item.check.abort();
    const value = item.input.value;
    if (value === item.original) {
      this.say(item, "", "");
      return;
    }
    const ctl = new AbortController();
    item.check = ctl;
    this.ctx.signal.addEventListener("abort", () => ctl.abort(), { once: true });
    setTimeout(async () => {
      if (ctl.signal.aborted) return;
      try {
        const q = new URLSearchParams({ ai: item.ai || "", value });
        const resp = await fetch(`/console/gs1-check?${q}`, { signal: ctl.signal, credentials: "omit", cache: "no-store" });
        if (!resp.ok) return; // no live check (an older gateway): the save's answer says it
        const got = await resp.json();
        if (ctl.signal.aborted || item.input.value !== value) return;
        item.invalid = !got.valid;
        this.say(item, got.valid ? `Valid${got.value && got.value !== value ? `: ${got.value}` : ""}` : got.message, got.valid ? "ok" : "bad");
      } catch {
        /* aborted or offline: the save's answer says it */
      }
    }, CHECK_DELAY_MS);
  }

  wire() {
    for (const item of this.items) {
      item.input.addEventListener("focus", () => this.select(item));
      item.input.addEventListener("input", () => {
        item.input.closest(".review-item")?.classList.toggle("edited", item.input.value !== item.original);
        showError($(this.view, ".save-error"), "");
        if (item.kind === "gs1") this.check(item);
        else if (item.input.value.length > 4000) this.say(item, "A line is at most 4000 characters.", "bad");
        else this.say(item, "", "");
      });
    }
    $(this.view, ".overlay").addEventListener("click", (event) => {
      const el = /** @type {Element} */ (event.target);
      const n = el.getAttribute("data-item");
      if (n !== null && this.items[Number(n)] && this.mine) this.items[Number(n)].input.focus();
    });
    $(this.view, ".approve").addEventListener("click", () => this.approve());
    $(this.view, ".save").addEventListener("click", () => this.saveCorrection());
    const rejectBox = $(this.view, ".reject-box");
    $(this.view, ".reject").addEventListener("click", () => {
      rejectBox.hidden = false;
      /** @type {HTMLElement} */ ($(rejectBox, "select")).focus();
    });
    $(this.view, ".confirm-reject").addEventListener("click", () => this.reject());
  }

  note() {
    const v = /** @type {HTMLInputElement} */ ($(this.view, "#review-note")).value.trim();
    return v || undefined;
  }

  status(text) {
    $(this.view, ".save-status").textContent = text;
  }

  refuse(text) {
    showError($(this.view, ".save-error"), text);
  }

  approve() {
    if (!this.mine) return this.refuse(this.cannot());
    const edits = this.changed();
    if (edits.length) {
      // Enter must never throw corrections away: approving is for an unchanged result.
      return this.refuse(`You changed ${edits.length} ${edits.length === 1 ? "value" : "values"}: Ctrl+Enter saves the correction.`);
    }
    return this.decide({ decision: "approve", note: this.note() }, "Approved.");
  }

  saveCorrection() {
    if (!this.mine) return this.refuse(this.cannot());
    const edits = this.changed();
    if (!edits.length) return this.refuse("Nothing was changed: Enter approves the result as it is.");
    const corrections = { lines: [], gs1: [], fields: {} };
    for (const item of edits) {
      if (item.kind === "line") {
        const page = this.pages[item.page];
        corrections.lines.push(page.document ? { index: item.index, page: page.number, text: item.input.value } : { index: item.index, text: item.input.value });
      } else if (item.kind === "gs1") {
        corrections.gs1.push({ barcode: item.barcode, ai: item.ai, value: item.input.value });
      } else if (item.kind === "field" && item.name) {
        corrections.fields[item.name] = item.input.value;
      }
    }
    // The server validates everything again and refuses the whole save naming one value: shown next to it.
    return this.decide({ decision: "correct", corrections, note: this.note() },
      `Corrected ${edits.length} ${edits.length === 1 ? "value" : "values"}.`);
  }

  reject() {
    if (!this.mine) return this.refuse(this.cannot());
    const reason = /** @type {HTMLSelectElement} */ ($(this.view, "#reject-reason")).value;
    return this.decide({ decision: "reject", reason, note: this.note() }, "Rejected.");
  }

  cannot() {
    const r = this.review || {};
    if (r.state === "resolved") return "This review is resolved; a resolution is final.";
    if (r.claimed_by) return `${r.claimed_by.name || r.claimed_by.key_id} holds this review until ${clock(r.lease_until)}.`;
    return "This job cannot be reviewed here.";
  }

  async decide(body, done) {
    if (this.busy) return;
    this.busy = true;
    this.refuse("");
    this.status("Saving…");
    try {
      const answer = await api(`/v1/jobs/${encodeURIComponent(this.job.id)}/review`, { method: "PUT", body, signal: this.ctx.signal });
      this.review = answer.review;
      this.mine = false;
      this.status(`${done} Opening the next job…`);
      await this.move(1, true);
    } catch (err) {
      if (err.name === "AbortError") return;
      this.status("");
      if (err instanceof ApiError && err.status === 401) {
        this.ctx.fail(err);
        return;
      }
      this.placeProblem(err);
    } finally {
      this.busy = false;
    }
  }

  /** A 4xx on save, next to the value it names (problem.errors[].field and its detail), else above the buttons. */
  placeProblem(err) {
    const text = errorText(err);
    const field = err instanceof ApiError && err.errors[0] ? err.errors[0].field : "";
    const detail = err instanceof ApiError ? err.detail : "";
    const edits = this.changed();
    let target = null;
    if (field === "corrections.gs1" || field === "corrections.barcodes") {
      target = edits.find((i) => i.kind === "gs1" && detail.includes(`(${i.ai})`) && detail.includes(i.input.value))
        || edits.find((i) => i.kind === "gs1");
    } else if (field === "corrections.lines") {
      target = edits.find((i) => i.kind === "line" && detail.includes(`[${i.index}]`));
    } else if (field === "corrections.fields") {
      target = edits.find((i) => i.kind === "field" && detail.includes(`'${i.name}'`));
    }
    if (target) {
      this.say(target, text, "bad");
      target.note.classList.add("from-server");
      target.input.focus();
      this.refuse("The server refused the save; the value is marked.");
    } else {
      this.refuse(text);
    }
  }

  // ---------------------------------------------------------------- the queue
  /** The next (1) or previous (-1) job of the queue as last listed; after a decision, past the end: the queue. */
  async move(step, afterDecision = false) {
    const { go, signal } = this.ctx;
    const filters = this.filters.toString();
    let { ids } = savedQueue();
    if (savedQueue().filters !== filters) ids = [];
    let at = ids.indexOf(this.job.id);
    if (at < 0) {
      // Opened from a link: the open queue now, around this job (it is claimed, so the list lacks it).
      const q = new URLSearchParams(this.filters);
      q.set("state", "open");
      q.set("limit", "200");
      const data = await api(`/v1/reviews?${q}`, { signal });
      const opened = Date.parse((this.review && this.review.opened_at) || "") || 0;
      const items = (data.items || []).map((i) => ({ id: i.job_id, t: Date.parse(i.review.opened_at) || 0 }));
      const before = items.filter((i) => i.t < opened || (i.t === opened && i.id < this.job.id)).map((i) => i.id);
      const after = items.filter((i) => !before.includes(i.id)).map((i) => i.id);
      ids = [...before, this.job.id, ...after];
      saveQueue(filters, ids);
      at = before.length;
    }
    const next = ids[at + step];
    if (next) {
      go(reviewHref(next, this.filters));
      return;
    }
    if (afterDecision) {
      go(filters ? `#/reviews?${filters}` : "#/reviews");
      return;
    }
    this.status(step > 0 ? "This is the last job in the queue." : "This is the first job in the queue.");
  }

  // ---------------------------------------------------------------- keys
  keyboard() {
    const { view, signal } = this.ctx;
    const form = /** @type {HTMLElement} */ ($(view, ".review-form"));
    const onKey = (event) => {
      const target = /** @type {HTMLElement} */ (event.target);
      if (this.busy) return;
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.saveCorrection();
        return;
      }
      if (event.key === "Enter" && !event.shiftKey && !event.altKey) {
        // Buttons, links and lists keep their own Enter.
        if (target.matches("button, a, select, textarea, summary")) return;
        if (target.matches("input") && !view.contains(target)) return;
        event.preventDefault();
        this.approve();
        return;
      }
      if (event.key === "Tab" && !event.ctrlKey && !event.altKey && !event.metaKey) {
        const flagged = this.items.filter((i) => i.flagged && !i.input.disabled).map((i) => i.input);
        if (!flagged.length) return;
        const at = flagged.indexOf(/** @type {HTMLInputElement} */ (target));
        const outside = target === document.body || target.matches("h1") || target === form || target === $(view, "#main");
        if (at < 0 && outside) {
          event.preventDefault();
          this.focus(flagged[event.shiftKey ? flagged.length - 1 : 0]);
        } else if (at >= 0) {
          const next = at + (event.shiftKey ? -1 : 1);
          if (next >= 0 && next < flagged.length) {
            event.preventDefault();
            this.focus(flagged[next]);
          } // past the last one: the browser's order (the note, then the decision buttons)
        }
        return;
      }
      if (event.key === "Escape" && isTyping(target) && view.contains(target)) {
        event.preventDefault();
        form.focus();
        return;
      }
      if ((event.key === "ArrowDown" || event.key === "ArrowUp") && target.matches(".review-input")) {
        // The arrow keys reach every item, flagged or not.
        const inputs = this.items.map((i) => i.input);
        const next = inputs[inputs.indexOf(/** @type {HTMLInputElement} */ (target)) + (event.key === "ArrowDown" ? 1 : -1)];
        if (next) {
          event.preventDefault();
          this.focus(next);
        }
        return;
      }
      if ((isLetter(event, "j") || isLetter(event, "k")) && !isTyping(target)) {
        event.preventDefault();
        this.move(isLetter(event, "j") ? 1 : -1).catch((err) => this.ctx.fail(err));
      }
    };
    document.addEventListener("keydown", onKey);
    signal.addEventListener("abort", () => document.removeEventListener("keydown", onKey));
  }

  focus(input) {
    input.focus();
    input.select();
    input.scrollIntoView({ block: "nearest" });
  }
}

