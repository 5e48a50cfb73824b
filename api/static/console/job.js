// @ts-check
// One job: follow it with long-polls (GET /v1/jobs/<id>?wait=20) until it is final, then show
// the result: the image (a document: one page at a time, GET .../image?page=N) with one SVG box
// per recognised line and, in another colour, per decoded barcode; the lines, the text, Markdown for
// `parse`, a key/value table for `fields`, the barcodes with their GS1 fields, the review reasons
// and the photo-quality verdict; downloads of the job (JSON) and of the result in the server's
// formats (searchable PDF, hOCR, text: /console/config.json).

import { api, ApiError } from "./api.js";
import { $, $$, badge, between, bytes, fullTime, h, metadataText, percent, seconds, when } from "./dom.js";
import { config } from "./config.js";
import { makeOverlay } from "./job-overlay.js";
import { buildActions, buildPanels } from "./job-panels.js";

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

// A page whose error says it cannot be rendered has no picture to fetch either.
const UNRENDERABLE = new Set(["page_unreadable", "render_timeout", "too_many_pixels", "damaged_document"]);

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
    renderQuality(view, job, cfg.quality_words || {});
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

/** words: the server's sentence per quality reason (/console/config.json quality_words, shared/errors.RESCAN_MESSAGES). */
function renderQuality(view, job, words) {
  const card = $(view, ".quality-card");
  const q = job.quality;  // the quality=check verdict, kept on the job since its submit
  card.hidden = !q || typeof q !== "object" || !q.verdict;
  if (card.hidden) return;
  const rescan = q.verdict === "rescan";
  card.classList.toggle("rescan", rescan);
  card.dataset.verdict = String(q.verdict);
  const reasons = Array.isArray(q.reasons) ? q.reasons : [];
  $(card, ".quality-verdict").textContent = rescan ? "Retake the photo" : "Photo quality: good";
  const said = reasons.map((r) => words[r] || r.replace(/_/g, " ")).join("; ") || "the photo is not good enough to read";
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
