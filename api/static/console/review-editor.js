// @ts-check
// One review's body (review-screen.js builds on it): the flagged lines and symbols, the editable items
// (GS1 values with the server's live check, GET /console/gs1-check; task fields; text lines, page by page),
// and the image (fetched with the key, shown from a blob) with one box per line and per barcode.

import { api, errorText } from "./api.js";
import { $, $$, h, percent, showError, svg } from "./dom.js";
import { reviewText } from "./job.js";
import { DECISION_WORDS } from "./review-shared.js";

const CHECK_DELAY_MS = 200;

const MORE_WORDS = {
  low_confidence: "Some lines or symbols were read with low confidence; they are marked.",
  answer_mismatch: "The answer gives a barcode value that the barcode itself does not say.",
  requested: "Every job of this kind is reviewed (review=always).",
};

/** @param {string} r */
function reasonText(r) {
  return MORE_WORDS[r] || reviewText(r);
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

export class ReviewEditor {
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

  /** The items' and the image's listeners; review-screen.js adds the decision buttons' after these. */
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
  }
}
