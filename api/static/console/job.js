// One job: follow it with long-polls (GET /v1/jobs/<id>?wait=20) until it is final, then show
// the result: the image (a document: one page at a time, GET .../image?page=N) with one SVG box
// per recognised line and, in another colour, per decoded barcode; the lines, the text, Markdown for
// `parse`, a key/value table for `fields`, the barcodes with their GS1 fields, the review reasons
// and the photo-quality verdict; downloads of the job (JSON) and of the result in the server's
// formats (searchable PDF, hOCR, text: /console/config.json).

import { api, ApiError } from "./api.js";
import { $, $$, badge, between, bytes, fullTime, h, metadataText, percent, seconds, svg, when } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { config } from "./config.js";

const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
const WAIT_S = 20;
const IMAGE_TRIES = 3; // a page preview answered 503 (the gateway renders one page at a time) is asked again

const ERROR_WORDS = {
  engine_error: "The OCR engine could not read this image.",
  input_too_large: "The image is larger than the workers accept.",
  input_missing: "The image was no longer in storage when a worker picked the job up.",
  attempts_exhausted: "The job was retried too many times and gave up.",
};

// needs_review reasons (shared/labels/review_reasons.py, workers/runner.py), in words for the person at the shelf.
const REVIEW_WORDS = {
  check_digit: "A check digit in a barcode is wrong: the number was misprinted, or the label is not genuine.",
  invalid_date: "A date in a barcode is not a real date.",
  text_mismatch: "The printed number next to a barcode does not match what the barcode says.",
  pages_failed: "Some pages could not be read; they are marked below.",
};

// quality verdict reasons (shared/intake/quality.py, shared/errors.RESCAN_MESSAGES).
const QUALITY_WORDS = {
  too_dark: "the photo is too dark",
  overexposed: "the photo is overexposed (washed out)",
  blurred: "the photo is blurred",
  glare: "a reflection (glare) covers part of the label",
  too_small: "the photo has too few pixels to read",
};

// A page whose error says it cannot be rendered has no picture to fetch either.
const UNRENDERABLE = new Set(["page_unreadable", "render_timeout", "too_many_pixels", "damaged_document"]);

const GS1_FIELD_NAMES = {
  sscc: "SSCC", gtin: "GTIN", batch_lot: "Batch / lot", expiry_date: "Expiry date", best_before_date: "Best before",
  production_date: "Production date", packaging_date: "Packaging date", serial: "Serial number", count: "Count",
  gln: "GLN", ship_to_gln: "Ship to (GLN)", content_gtin: "Content (GTIN)",
};

export function renderJob(jobId, ctx) {
  const { view, mount, signal, fail } = ctx;
  mount("tpl-job", `Job ${jobId}`);
  $(view, ".job-id").textContent = jobId;
  const state = { job: null, images: new Map(), shown: false };
  signal.addEventListener("abort", () => {
    for (const url of state.images.values()) URL.revokeObjectURL(url);
    state.images.clear();
  });
  follow(jobId, state, ctx).catch((err) => fail(err));
}

async function follow(jobId, state, ctx) {
  const { view, signal } = ctx;
  let path = `/v1/jobs/${encodeURIComponent(jobId)}`;
  const cfg = await config();
  const wait = Math.max(0, Math.min(WAIT_S, Number(cfg.wait_max_s ?? WAIT_S) || 0));
  let retry = 0;
  while (!signal.aborted) {
    let job;
    try {
      job = await api(path, { signal });
      retry = 0;
    } catch (err) {
      // A lost connection or a busy gateway is retried; anything else is final for this view.
      const transient = err instanceof ApiError && (err.status === 0 || err.status === 429 || err.status >= 502);
      if (!transient || signal.aborted) throw err;
      retry += 1;
      const pause = Math.min(30, err.retryAfter || 2 ** Math.min(retry, 5));
      showProgress(view, `${err.message}. Trying again in ${pause} s…`);
      await sleep(pause * 1000, signal);
      continue;
    }
    state.job = job;
    renderHead(view, job);
    renderReview(view, job);
    renderQuality(view, job);
    if (TERMINAL.has(job.status)) {
      $(view, ".progress-card").hidden = true;
      if (job.status === "succeeded") await renderResult(job, state, ctx);
      else renderFailure(view, job);
      return;
    }
    showProgress(view, progressText(job), job.progress);
    // A long-poll answers when the job is final; a document's page count moves before that, so it is asked every 2 s.
    const w = isDocument(job) ? Math.min(wait, 2) : wait;
    if (w > 0) path = `/v1/jobs/${encodeURIComponent(jobId)}?wait=${w}`;
    else await sleep(1000, signal); // a gateway without long-polls: ask once a second
  }
}

function sleep(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    });
  });
}

function isDocument(job) {
  return job.pages_total !== undefined && job.pages_total !== null;
}

function progressText(job) {
  if (job.status === "queued") return "Waiting for a worker…";
  const p = job.progress;
  if (isDocument(job) && p && Number.isFinite(p.pages_total)) {
    return `Reading the document: ${p.pages_done || 0} of ${p.pages_total} ${p.pages_total === 1 ? "page" : "pages"} done…`;
  }
  return isDocument(job) ? "Reading the document…" : "Reading the image…";
}

function showProgress(view, text, progress) {
  $(view, ".progress-card").hidden = false;
  $(view, ".progress-text").textContent = text;
  const bar = $(view, ".page-progress");
  if (progress && Number.isFinite(progress.pages_total) && progress.pages_total > 0) {
    bar.hidden = false;
    bar.max = progress.pages_total;
    bar.value = Math.min(progress.pages_total, progress.pages_done || 0);
    bar.setAttribute("aria-valuetext", `${bar.value} of ${bar.max} pages`);
  } else {
    bar.hidden = true;
  }
}

function renderHead(view, job) {
  $(view, ".job-status").replaceWith(Object.assign(badge(job.status), { className: `badge job-status status-${job.status}` }));
  const facts = $(view, ".job-facts");
  const timings = job.result && job.result.timings;
  const waited = timings ? timings.queued_ms : between(job.created_at, job.started_at);
  const ran = timings ? timings.total_ms - (timings.queued_ms || 0) : between(job.started_at, job.finished_at);
  const rows = [
    ["Task", taskText(job)],
    ["Created", h("time", { datetime: job.created_at, title: fullTime(job.created_at) }, when(job.created_at))],
    ["Waited", seconds(waited)],
    ["Ran", job.finished_at ? seconds(ran) : "–"],
  ];
  if (timings) rows.push(["Recognition", seconds(timings.infer_ms)]);
  if (isDocument(job)) {
    const kind = job.input && job.input.content_type === "application/pdf" ? "PDF" : "TIFF";
    const selected = Array.isArray(job.pages) ? job.pages.length : job.pages_total;
    const pages = selected === job.pages_total ? `${job.pages_total} pages` : `${selected} of ${job.pages_total} pages`;
    rows.push(["Document", `${kind} · ${pages}${job.input ? ` · ${bytes(job.input.bytes)}` : ""}`]);
    if (job.pages_failed) rows.push(["Pages failed", String(job.pages_failed)]);
  } else if (job.input) {
    rows.push(["Image", `${job.input.width} × ${job.input.height} px · ${bytes(job.input.bytes)}`]);
  }
  const engine = job.result && job.result.engine;
  if (engine) {
    const version = String(engine.version || "");
    rows.push(["Engine", version.startsWith(engine.name) ? version : `${engine.name} ${version}`.trim()]);
  }
  if (job.priority && job.priority !== "interactive") rows.push(["Priority", job.priority]);
  if (job.attempts > 1) rows.push(["Attempts", String(job.attempts)]);
  const meta = metadataText(job.metadata);
  if (meta) rows.push(["Metadata", meta]);
  if (job.batch_id) rows.push(["Batch", h("a", { href: `#/batches/${encodeURIComponent(job.batch_id)}` }, job.batch_id)]);
  facts.replaceChildren(...rows.map(([k, v]) => h("div", { class: "fact" }, h("dt", null, k), h("dd", null, v))));
}

export function reviewText(reason) {
  return REVIEW_WORDS[reason] || `Flagged for review: ${reason}.`;
}

function renderReview(view, job) {
  const card = $(view, ".review-card");
  const reasons = Array.isArray(job.review_reasons) ? job.review_reasons : [];
  card.hidden = !job.needs_review;
  if (!job.needs_review) return;
  $(card, ".review-list").replaceChildren(
    ...(reasons.length ? reasons : [""]).map((r) =>
      h("li", { dataset: { reason: r } }, r ? reviewText(r) : "A check on this job failed.", r ? h("code", { class: "reason-code" }, r) : null)),
  );
}

function renderQuality(view, job) {
  const card = $(view, ".quality-card");
  const q = job.quality;  // the quality=check verdict, kept on the job since its submit
  card.hidden = !q || typeof q !== "object" || !q.verdict;
  if (card.hidden) return;
  const rescan = q.verdict === "rescan";
  card.classList.toggle("rescan", rescan);
  card.dataset.verdict = String(q.verdict);
  const reasons = Array.isArray(q.reasons) ? q.reasons : [];
  $(card, ".quality-verdict").textContent = rescan ? "Retake the photo" : "Photo quality: good";
  const said = reasons.map((r) => QUALITY_WORDS[r] || r).join("; ") || "the photo is not good enough to read";
  $(card, ".quality-reasons").textContent = rescan
    ? `${said.charAt(0).toUpperCase()}${said.slice(1)}.`
    : "Sharp and well lit enough to read.";
  const measures = [
    ["sharpness", q.sharpness], ["brightness", q.brightness], ["glare", q.glare_fraction],
  ].filter(([, v]) => Number.isFinite(v)).map(([k, v]) => `${k} ${k === "glare" ? percent(v) : v.toFixed(2)}`);
  $(card, ".quality-measures").textContent = measures.join(" · ");
}

export function taskText(job) {
  const p = job.params || {};
  if (job.task === "fields" && p.fields) return `fields (${p.fields.join(", ")})`;
  if (job.task === "translate" && p.target_lang) return `translate → ${p.target_lang === "zh" ? "Chinese" : "English"}`;
  if (job.task === "ask" && p.instruction) return `ask: “${p.instruction.length > 60 ? `${p.instruction.slice(0, 60)}…` : p.instruction}”`;
  return job.task;
}

export function failureText(job) {
  if (job.status === "canceled") return "The job was canceled before a worker started it.";
  const e = job.error || {};
  const words = ERROR_WORDS[e.code];
  if (e.message && words) return `${words} (${e.message})`;
  return e.message || words || "The job failed without a reason.";
}

function renderFailure(view, job) {
  const card = $(view, ".error-card");
  card.hidden = false;
  $(card, "h2").textContent = job.status === "canceled" ? "The job was canceled" : "The job failed";
  $(card, ".error-text").textContent = failureText(job);
  $(card, ".error-code").textContent = job.error && job.error.code ? `Error code: ${job.error.code}` : "";
}

// ------------------------------------------------------------------ result
/** Every result as a list of pages: an image is one page (its own lines and barcodes). */
function resultPages(job, result) {
  const base = job.links.image;
  if (isDocument(job) && Array.isArray(result.pages) && result.pages.length) {
    return result.pages.map((p) => ({
      number: p.page,
      width: p.width || 1,
      height: p.height || 1,
      lines: Array.isArray(p.lines) ? p.lines : [],
      text: p.text || "",
      markdown: p.markdown || null,
      fields: p.fields && typeof p.fields === "object" ? p.fields : null,
      barcodes: Array.isArray(p.barcodes) ? p.barcodes : null,
      error: p.error || null,
      image: `${base}?page=${encodeURIComponent(p.page)}`,
    }));
  }
  return [{
    number: 1,
    width: (result.image && result.image.width) || 1,
    height: (result.image && result.image.height) || 1,
    lines: Array.isArray(result.lines) ? result.lines : [],
    text: result.text || "",
    markdown: result.markdown || null,
    fields: result.fields && typeof result.fields === "object" ? result.fields : null,
    barcodes: Array.isArray(result.barcodes) ? result.barcodes : null,
    error: null,
    image: base,
  }];
}

async function renderResult(job, state, ctx) {
  const { view } = ctx;
  const result = job.result;
  if (!result) {
    const card = $(view, ".error-card");
    card.hidden = false;
    $(card, "h2").textContent = "No result";
    $(card, ".error-text").textContent = "The job succeeded but its result is not available any more.";
    return;
  }
  const section = $(view, ".result");
  section.hidden = false;
  const pages = resultPages(job, result);
  const overlay = makeOverlay(view);
  const panels = buildPanels(view, job, result, pages, overlay);
  buildActions(view, job, result, ctx);

  let current = -1;
  let loading = null;
  const show = (index) => {
    if (index === current || index < 0 || index >= pages.length) return;
    current = index;
    const page = pages[index];
    overlay.show(page);
    panels.show(page);
    pageBar.update(index);
    const err = $(view, ".page-error");
    err.hidden = !page.error;
    err.textContent = page.error ? `This page could not be read: ${page.error.message || page.error.code} (${page.error.code})` : "";
    if (isDocument(job)) history.replaceState(null, "", `#/jobs/${encodeURIComponent(job.id)}?page=${page.number}`);
    if (loading) loading.abort();
    loading = new AbortController();
    ctx.signal.addEventListener("abort", () => loading && loading.abort(), { once: true });
    loadImage(view, job, page, state, loading.signal, ctx).catch(() => {});
  };
  const pageBar = buildPageBar(view, pages, show);
  const asked = Number(new URLSearchParams(location.hash.split("?")[1] || "").get("page"));
  const first = Math.max(0, pages.findIndex((p) => p.number === asked));
  show(first);
}

function buildPageBar(view, pages, show) {
  const bar = $(view, ".page-bar");
  bar.hidden = pages.length < 2;
  const prev = $(bar, ".page-prev");
  const next = $(bar, ".page-next");
  const select = $(bar, ".page-select");
  const count = $(bar, ".page-count");
  select.replaceChildren(...pages.map((p, i) =>
    h("option", { value: String(i) }, `Page ${p.number}${p.error ? " (failed)" : ""}`)));
  let at = 0;
  prev.addEventListener("click", () => show(at - 1));
  next.addEventListener("click", () => show(at + 1));
  select.addEventListener("change", () => show(Number(select.value)));
  return {
    update(index) {
      at = index;
      select.value = String(index);
      prev.disabled = index === 0;
      next.disabled = index === pages.length - 1;
      count.textContent = `of ${pages.length}`;
      bar.dataset.page = String(pages[index].number);
    },
  };
}

async function loadImage(view, job, page, state, signal, ctx) {
  const figure = $(view, ".figure");
  const img = $(view, ".doc-img");
  figure.classList.remove("loaded", "no-image");
  for (const el of $$(figure, ".figure-missing")) el.remove();
  img.alt = isDocument(job) ? `Page ${page.number} of the submitted document` : "The submitted image";
  if (page.error && UNRENDERABLE.has(page.error.code)) {
    figure.classList.add("no-image");
    figure.append(h("p", { class: "figure-missing muted" }, "This page has no picture: it could not be rendered."));
    return;
  }
  let url = state.images.get(page.image);
  try {
    if (!url) {
      // The image needs the key, so it is fetched (not an <img src> to the API) and shown as a blob.
      let resp;
      for (let attempt = 1; ; attempt += 1) {
        try {
          resp = await api(page.image, { raw: true, signal });
          break;
        } catch (err) {
          if (!(err instanceof ApiError) || err.status !== 503 || attempt >= IMAGE_TRIES) throw err;
          await sleep(1000 * Math.min(5, err.retryAfter || 1), signal);
          if (signal.aborted) return;
        }
      }
      const blob = await resp.blob();
      if (signal.aborted) return;
      url = URL.createObjectURL(blob);
      state.images.set(page.image, url);
    }
    if (signal.aborted) return;
    await new Promise((resolve) => {
      img.addEventListener("load", resolve, { once: true });
      img.addEventListener("error", resolve, { once: true });
      img.src = url;
    });
    if (signal.aborted) return;
    figure.classList.add("loaded");
  } catch (err) {
    if (err.name === "AbortError" || signal.aborted) return;
    figure.classList.add("no-image");
    const what = isDocument(job) ? "This page" : "The image";
    const msg = err instanceof ApiError ? `${what} cannot be shown: ${err.detail || err.title}` : `${what} cannot be shown.`;
    figure.append(h("p", { class: "figure-missing muted" }, msg));
    if (err instanceof ApiError && err.status === 401) ctx.fail(err);
  }
}

/** The SVG layer over the image: one shape per line (.ocr-box) and per barcode (.barcode-box). */
function makeOverlay(view) {
  const figure = $(view, ".figure");
  const layer = $(view, ".overlay");
  const tip = $(view, ".tip");
  let lines = [];
  let barcodes = [];
  let lineShapes = [];
  let W = 1;
  let H = 1;
  let selected = -1;

  function shapeFor(item, attrs, label) {
    const poly = Array.isArray(item.polygon) && item.polygon.length >= 3 ? item.polygon : null;
    const [x0, y0, x1, y1] = item.box;
    const shape = poly
      ? svg("polygon", { ...attrs, "vector-effect": "non-scaling-stroke", points: poly.map(([x, y]) => `${x},${y}`).join(" ") })
      : svg("rect", { ...attrs, "vector-effect": "non-scaling-stroke", x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0) });
    shape.append(svg("title", null, label));
    return shape;
  }

  function show(page) {
    lines = page.lines;
    barcodes = (page.barcodes || []).filter((b) => Array.isArray(b.box) && b.box.length === 4);
    W = page.width || 1;
    H = page.height || 1;
    selected = -1;
    tip.hidden = true;
    layer.setAttribute("viewBox", `0 0 ${W} ${H}`);
    // Before the image loads the figure keeps the page's shape, so boxes never jump.
    figure.style.aspectRatio = `${W} / ${H}`;
    lineShapes = lines.filter((l) => Array.isArray(l.box)).map((line, i) =>
      shapeFor(line, { class: "ocr-box", "data-line-index": i },
        `${line.text}${Number.isFinite(line.confidence) ? ` (${percent(line.confidence)})` : ""}`));
    const codeShapes = barcodes.map((b, i) =>
      shapeFor(b, { class: "barcode-box", "data-barcode-index": i }, `${b.format}: ${b.text}`));
    layer.replaceChildren(...lineShapes, ...codeShapes); // barcodes on top: they are what a label is about
    const parts = [`${lines.length} ${lines.length === 1 ? "line" : "lines"}`];
    if (page.barcodes) parts.push(`${barcodes.length} ${barcodes.length === 1 ? "barcode" : "barcodes"}`);
    $(view, ".box-count").textContent = parts.join(" · ");
    $(view, ".legend").hidden = !barcodes.length;
  }

  function place(box) {
    const [x0, y0, x1, y1] = box;
    const cx = ((x0 + x1) / 2 / W) * 100;
    tip.style.left = `${Math.min(85, Math.max(15, cx))}%`;
    // below the box, or above it when the box is in the lower part of the image
    if (y1 / H < 0.75) {
      tip.style.top = `${(y1 / H) * 100}%`;
      tip.style.bottom = "";
      tip.classList.remove("above");
    } else {
      tip.style.top = "";
      tip.style.bottom = `${100 - (y0 / H) * 100}%`;
      tip.classList.add("above");
    }
    tip.hidden = false;
  }
  function showTip(i) {
    const line = lines[i];
    if (!line) {
      tip.hidden = true;
      return;
    }
    tip.replaceChildren(h("span", { class: "tip-text" }, line.text || "(empty)"));
    if (Number.isFinite(line.confidence)) tip.append(h("span", { class: "tip-conf" }, `confidence ${percent(line.confidence)}`));
    place(line.box);
  }
  function showCodeTip(i) {
    const b = barcodes[i];
    if (!b) return;
    tip.replaceChildren(h("span", { class: "tip-text" }, b.text || "(empty)"), h("span", { class: "tip-conf" }, `barcode · ${b.format}`));
    place(b.box);
  }
  function hideTip() {
    if (selected >= 0) showTip(selected);
    else tip.hidden = true;
  }
  function select(i, { fromImage = false } = {}) {
    selected = i;
    for (const el of $$(view, ".selected")) el.classList.remove("selected");
    for (const el of $$(view, `[data-line-index="${i}"]`)) el.classList.add("selected");
    showTip(i);
    const item = $(view, `.line-item[data-line-index="${i}"]`);
    if (fromImage && item) {
      scrollWithin(item.closest(".panel"), item); // the list's own scroll only: the page stays on the image
    } else if (!fromImage) {
      const shape = lineShapes[i];
      const rect = shape && shape.getBoundingClientRect();
      if (rect && (rect.top < 0 || rect.bottom > window.innerHeight)) figure.scrollIntoView({ block: "center", behavior: "smooth" });
    }
  }
  function selectCode(i) {
    selected = -1;
    for (const el of $$(view, ".selected")) el.classList.remove("selected");
    for (const el of $$(view, `[data-barcode-index="${i}"]`)) el.classList.add("selected");
    showCodeTip(i);
  }

  const index = (event, name) => {
    const v = event.target.dataset && event.target.dataset[name];
    return v === undefined ? null : Number(v);
  };
  layer.addEventListener("pointerover", (event) => {
    const i = index(event, "lineIndex");
    const b = index(event, "barcodeIndex");
    if (i !== null) showTip(i);
    else if (b !== null) showCodeTip(b);
  });
  layer.addEventListener("pointerout", (event) => {
    if (index(event, "lineIndex") !== null || index(event, "barcodeIndex") !== null) hideTip();
  });
  layer.addEventListener("click", (event) => {
    const i = index(event, "lineIndex");
    const b = index(event, "barcodeIndex");
    if (i !== null) select(i, { fromImage: true });
    else if (b !== null) selectCode(b);
  });
  $(view, ".toggle-boxes").addEventListener("change", (event) => {
    figure.classList.toggle("boxes-off", !event.target.checked);
    if (!event.target.checked) tip.hidden = true;
  });
  return { show, select, selectCode };
}

function scrollWithin(container, item) {
  if (!container || container.scrollHeight <= container.clientHeight) return;
  const c = container.getBoundingClientRect();
  const r = item.getBoundingClientRect();
  if (r.top < c.top) container.scrollTop -= c.top - r.top + 8;
  else if (r.bottom > c.bottom) container.scrollTop += r.bottom - c.bottom + 8;
}

/** The tabs beside the image; each page-dependent panel is rebuilt when the page changes. */
function buildPanels(view, job, result, pages, overlay) {
  const anyCodes = pages.some((p) => p.barcodes && p.barcodes.length);
  const decoderOnly = job.task === "barcodes";
  const tabs = [];
  const barcodesTab = ["barcodes", (p) => `Barcodes (${(p.barcodes || []).length})`, (p) => barcodesPanel(p.barcodes || [], overlay)];
  if (anyCodes || decoderOnly) tabs.push(barcodesTab);
  if (pages.some((p) => p.fields)) tabs.push(["fields", () => "Fields", (p) => fieldsPanel(p.fields)]);
  if (pages.some((p) => p.markdown)) {
    tabs.push(["markdown", () => "Document", (p) => (p.markdown ? h("div", { class: "markdown" }, renderMarkdown(p.markdown))
      : h("p", { class: "muted" }, "Nothing on this page."))]);
  }
  if (!decoderOnly) tabs.push(["lines", (p) => `Lines (${p.lines.length})`, (p) => linesPanel(p, overlay)]);
  tabs.push(["text", () => "Text", (p) => h("pre", { class: "plain-text" }, p.text || "(no text)")]);
  if (result.raw) tabs.push(["raw", () => "Model output", () => h("pre", { class: "plain-text" }, result.raw)]);

  const tablist = $(view, ".tabs");
  const panelBox = $(view, ".panels");
  const buttons = [];
  const panels = [];
  tabs.forEach(([name], idx) => {
    const tabId = `tab-${name}`;
    const panelId = `panel-${name}`;
    const button = h("button", {
      type: "button", role: "tab", id: tabId, class: "tab", "aria-controls": panelId,
      "aria-selected": idx === 0 ? "true" : "false", tabindex: idx === 0 ? "0" : "-1",
      dataset: { tab: name },
    });
    const panel = h("div", { role: "tabpanel", id: panelId, class: `panel panel-${name}`, "aria-labelledby": tabId, tabindex: "0" });
    panel.hidden = idx !== 0;
    buttons.push(button);
    panels.push(panel);
    tablist.append(button);
    panelBox.append(panel);
  });
  function activate(idx, focus) {
    buttons.forEach((b, j) => {
      b.setAttribute("aria-selected", j === idx ? "true" : "false");
      b.tabIndex = j === idx ? 0 : -1;
      panels[j].hidden = j !== idx;
    });
    if (focus) buttons[idx].focus();
  }
  buttons.forEach((b, idx) => {
    b.addEventListener("click", () => activate(idx, false));
    b.addEventListener("keydown", (event) => {
      const moves = { ArrowRight: 1, ArrowLeft: -1, Home: -idx, End: buttons.length - 1 - idx };
      if (event.key in moves) {
        event.preventDefault();
        activate((idx + moves[event.key] + buttons.length) % buttons.length, true);
      }
    });
  });
  if (result.truncated) {
    panelBox.prepend(h("p", { class: "warn" }, "The engine stopped early: this result may be incomplete."));
  }
  return {
    show(page) {
      tabs.forEach(([, label, make], idx) => {
        buttons[idx].textContent = label(page);
        panels[idx].replaceChildren(make(page));
        panels[idx].scrollTop = 0;
      });
    },
  };
}

function linesPanel(page, overlay) {
  const lines = page.lines;
  if (!lines.length) {
    return h("p", { class: "muted" }, page.error ? "This page could not be read." : "No text was found on this page.");
  }
  return h("ol", { class: "lines" }, lines.map((line, i) =>
    h("li", null,
      h("button", {
        type: "button", class: "line-item", dataset: { lineIndex: String(i) },
        onclick: () => overlay.select(i),
      },
      h("span", { class: "line-text" }, line.text || "(empty)"),
      Number.isFinite(line.confidence) ? h("span", { class: `line-conf ${line.confidence < 0.8 ? "low" : ""}` }, percent(line.confidence)) : null))));
}

function fieldsPanel(fields) {
  const entries = Object.entries(fields || {});
  if (!entries.length) return h("p", { class: "muted" }, "None of the fields were found.");
  const value = (v) => {
    if (v === null || v === undefined || v === "") return h("span", { class: "muted" }, "not found");
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") return String(v);
    return h("pre", { class: "inline-json" }, JSON.stringify(v, null, 2));
  };
  return h("table", { class: "kv" },
    h("caption", { class: "visually-hidden" }, "Extracted fields"),
    h("tbody", null, entries.map(([k, v]) => h("tr", null, h("th", { scope: "row" }, k), h("td", null, value(v))))));
}

function gs1Status(g) {
  if (!g) return h("span", { class: "muted" }, "not GS1");
  if (g.valid) return h("span", { class: "gs1-ok" }, "valid");
  const codes = (Array.isArray(g.errors) ? g.errors : []).map((e) => e && e.code).filter(Boolean);
  return h("span", { class: "gs1-bad" }, `invalid${codes.length ? `: ${[...new Set(codes)].join(", ")}` : ""}`);
}

function barcodesPanel(barcodes, overlay) {
  if (!barcodes.length) return h("p", { class: "muted" }, "No barcode was found on this image.");
  const summary = h("table", { class: "symbols" },
    h("caption", { class: "visually-hidden" }, "Decoded barcodes"),
    h("thead", null, h("tr", null, ...["#", "Format", "Content", "GS1"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", null, barcodes.map((b, i) => h("tr", { class: "symbol-row", dataset: { barcodeIndex: String(i) } },
      h("td", null, h("button", { type: "button", class: "symbol-pick", "aria-label": `Show barcode ${i + 1} on the image`,
        onclick: () => overlay.selectCode(i) }, String(i + 1))),
      h("td", null, b.format || "?"),
      h("td", { class: "symbol-text" }, b.encoding === "base64" ? h("span", null, h("span", { class: "muted" }, "bytes (base64) "), b.text) : b.text || ""),
      h("td", null, gs1Status(b.gs1))))));
  const details = barcodes.map((b, i) => (b.gs1 ? gs1Table(b, i) : null));
  return h("div", { class: "barcodes" }, summary, ...details);
}

function gs1Table(b, i) {
  const g = b.gs1;
  const fields = g.fields && typeof g.fields === "object" ? Object.entries(g.fields) : [];
  const elements = Array.isArray(g.elements) ? g.elements : [];
  const errors = Array.isArray(g.errors) ? g.errors : [];
  const elementFor = (value) => elements.find((e) => String(e.value) === String(value));
  const rows = fields.map(([name, value]) => {
    const el = elementFor(value);
    const shown = value !== null && typeof value === "object" ? JSON.stringify(value) : String(value);
    return h("tr", { dataset: { field: name } },
      h("th", { scope: "row" }, GS1_FIELD_NAMES[name] || name.replace(/_/g, " ")),
      h("td", { class: "gs1-value" }, shown),
      h("td", { class: "muted" }, el ? `(${el.ai})${el.title ? ` ${el.title}` : ""}` : ""));
  });
  return h("section", { class: `gs1 ${g.valid ? "valid" : "invalid"}`, dataset: { barcodeIndex: String(i) } },
    h("h3", null, `Barcode ${i + 1}: GS1 fields`, " ", gs1Status(g)),
    rows.length
      ? h("table", { class: "kv gs1-fields" },
        h("caption", { class: "visually-hidden" }, `GS1 fields of barcode ${i + 1}`),
        h("thead", null, h("tr", null, h("th", { scope: "col" }, "Field"), h("th", { scope: "col" }, "Value"), h("th", { scope: "col" }, "AI"))),
        h("tbody", null, rows))
      : h("p", { class: "muted" }, "No GS1 fields could be read."),
    errors.length
      ? h("ul", { class: "gs1-errors" }, errors.map((e) => h("li", { dataset: { code: String(e.code || "") } },
        `${e.message || e.code}`, e.ai ? ` (AI ${e.ai})` : "")))
      : null);
}

function saveBlob(blob, filename) {
  const url = URL.createObjectURL(blob);
  const a = h("a", { href: url, download: filename, class: "visually-hidden" });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function buildActions(view, job, result, ctx) {
  const status = $(view, ".copy-status");
  const say = (text) => {
    status.textContent = text;
    setTimeout(() => {
      if (status.textContent === text) status.textContent = "";
    }, 4000);
  };
  $(view, ".copy-text").addEventListener("click", async () => {
    const text = result.text || "";
    let ok = false;
    try {
      await navigator.clipboard.writeText(text);
      ok = true;
    } catch {
      // No clipboard permission (or not a secure context): the classic selection copy.
      const area = h("textarea", { class: "visually-hidden", readonly: true });
      area.value = text;
      document.body.append(area);
      area.select();
      try {
        ok = document.execCommand("copy");
      } catch {
        ok = false;
      }
      area.remove();
    }
    say(ok ? "Text copied." : "Copying is blocked in this browser; select the text in the Text tab instead.");
  });
  $(view, ".download-json").addEventListener("click", () => {
    saveBlob(new Blob([`${JSON.stringify(job, null, 2)}\n`], { type: "application/json" }), `${job.id}.json`);
  });
  // The result formats (the server's, from /console/config.json) need the key too: fetched, then
  // saved from a blob link.
  config().then((cfg) => buildExports($(view, ".exports"), job, (cfg.formats || []).filter((f) => f.download), say, ctx));
}

function buildExports(box, job, formats, say, ctx) {
  box.replaceChildren(...formats.map(({ name: fmt, label, suffix }) => {
    const button = h("button", { type: "button", class: "secondary", dataset: { format: fmt } }, label);
    button.addEventListener("click", async () => {
      button.disabled = true;
      const was = button.textContent;
      button.textContent = `Preparing the ${label}…`;
      try {
        const resp = await api(`${job.links.result}?format=${encodeURIComponent(fmt)}`, { raw: true, signal: ctx.signal });
        saveBlob(await resp.blob(), `${job.id}.${suffix}`);
        say(`${label} saved.`);
      } catch (err) {
        if (err.name === "AbortError") return;
        say(err instanceof ApiError ? `${label}: ${err.message}` : `${label} could not be made.`);
        if (err instanceof ApiError && err.status === 401) ctx.fail(err);
      } finally {
        button.disabled = false;
        button.textContent = was;
      }
    });
    return button;
  }));
}
