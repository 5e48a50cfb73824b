// One job: follow it with long-polls (GET /v1/jobs/<id>?wait=20) until it is final, then show
// the result: the image with one SVG box per recognised line, the lines, the text, Markdown for
// `parse`, a key/value table for `fields`, and the job as a JSON download.

import { api, ApiError } from "./api.js";
import { $, $$, badge, between, bytes, fullTime, h, metadataText, percent, seconds, svg, when } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { config } from "./config.js";

const TERMINAL = new Set(["succeeded", "failed", "canceled"]);
const WAIT_S = 20;

const ERROR_WORDS = {
  engine_error: "The OCR engine could not read this image.",
  input_too_large: "The image is larger than the workers accept.",
  input_missing: "The image was no longer in storage when a worker picked the job up.",
  attempts_exhausted: "The job was retried too many times and gave up.",
};

export function renderJob(jobId, ctx) {
  const { view, mount, signal, fail } = ctx;
  mount("tpl-job", `Job ${jobId}`);
  $(view, ".job-id").textContent = jobId;
  const state = { job: null, imageUrl: null, shown: false };
  signal.addEventListener("abort", () => {
    if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
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
    if (TERMINAL.has(job.status)) {
      $(view, ".progress-card").hidden = true;
      if (job.status === "succeeded") await renderResult(job, state, ctx);
      else renderFailure(view, job);
      return;
    }
    showProgress(view, job.status === "queued" ? "Waiting for a worker…" : "Reading the image…");
    if (wait > 0) path = `/v1/jobs/${encodeURIComponent(jobId)}?wait=${wait}`;
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

function showProgress(view, text) {
  $(view, ".progress-card").hidden = false;
  $(view, ".progress-text").textContent = text;
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
  if (job.input) rows.push(["Image", `${job.input.width} × ${job.input.height} px · ${bytes(job.input.bytes)}`]);
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
async function renderResult(job, state, ctx) {
  const { view, signal, fail } = ctx;
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
  const lines = Array.isArray(result.lines) ? result.lines : [];
  const overlay = buildOverlay(view, result, lines);
  buildPanels(view, job, result, lines, overlay);
  buildActions(view, job, result);

  // The image needs the key, so it is fetched (not an <img src> to the API) and shown as a blob.
  try {
    const resp = await api(job.links.image, { raw: true, signal });
    const blob = await resp.blob();
    if (signal.aborted) return;
    state.imageUrl = URL.createObjectURL(blob);
    const img = $(view, ".doc-img");
    await new Promise((resolve) => {
      img.addEventListener("load", resolve, { once: true });
      img.addEventListener("error", resolve, { once: true });
      img.src = state.imageUrl;
    });
    $(view, ".figure").classList.add("loaded");
  } catch (err) {
    if (err.name === "AbortError") return;
    $(view, ".figure").classList.add("no-image");
    const msg = err instanceof ApiError ? `The image cannot be shown: ${err.detail || err.title}` : "The image cannot be shown.";
    $(view, ".figure").append(h("p", { class: "figure-missing muted" }, msg));
    if (err instanceof ApiError && err.status === 401) fail(err);
  }
}

function buildOverlay(view, result, lines) {
  const figure = $(view, ".figure");
  const layer = $(view, ".overlay");
  const tip = $(view, ".tip");
  const W = (result.image && result.image.width) || 1;
  const H = (result.image && result.image.height) || 1;
  layer.setAttribute("viewBox", `0 0 ${W} ${H}`);
  // Before the image loads the figure keeps the image's shape, so boxes never jump.
  figure.style.aspectRatio = `${W} / ${H}`;
  const shapes = lines.map((line, i) => {
    const [x0, y0, x1, y1] = line.box;
    const poly = Array.isArray(line.polygon) && line.polygon.length >= 3 ? line.polygon : null;
    const attrs = {
      class: "ocr-box",
      "data-line-index": i,
      "vector-effect": "non-scaling-stroke",
    };
    const shape = poly
      ? svg("polygon", { ...attrs, points: poly.map(([x, y]) => `${x},${y}`).join(" ") })
      : svg("rect", { ...attrs, x: x0, y: y0, width: Math.max(1, x1 - x0), height: Math.max(1, y1 - y0) });
    shape.append(svg("title", null, `${line.text}${Number.isFinite(line.confidence) ? ` (${percent(line.confidence)})` : ""}`));
    return shape;
  });
  layer.replaceChildren(...shapes);
  $(view, ".box-count").textContent = `${lines.length} ${lines.length === 1 ? "line" : "lines"}`;

  let selected = -1;
  function showTip(i) {
    const line = lines[i];
    if (!line) {
      tip.hidden = true;
      return;
    }
    const [x0, y0, x1, y1] = line.box;
    tip.replaceChildren(h("span", { class: "tip-text" }, line.text || "(empty)"));
    if (Number.isFinite(line.confidence)) tip.append(h("span", { class: "tip-conf" }, `confidence ${percent(line.confidence)}`));
    tip.hidden = false;
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
      const shape = shapes[i];
      const rect = shape && shape.getBoundingClientRect();
      if (rect && (rect.top < 0 || rect.bottom > window.innerHeight)) figure.scrollIntoView({ block: "center", behavior: "smooth" });
    }
  }

  layer.addEventListener("pointerover", (event) => {
    const i = event.target.dataset && event.target.dataset.lineIndex;
    if (i !== undefined) showTip(Number(i));
  });
  layer.addEventListener("pointerout", (event) => {
    if (event.target.dataset && event.target.dataset.lineIndex !== undefined) hideTip();
  });
  layer.addEventListener("click", (event) => {
    const i = event.target.dataset && event.target.dataset.lineIndex;
    if (i !== undefined) select(Number(i), { fromImage: true });
  });
  $(view, ".toggle-boxes").addEventListener("change", (event) => {
    figure.classList.toggle("boxes-off", !event.target.checked);
    if (!event.target.checked) tip.hidden = true;
  });
  return { select };
}

function scrollWithin(container, item) {
  if (!container || container.scrollHeight <= container.clientHeight) return;
  const c = container.getBoundingClientRect();
  const r = item.getBoundingClientRect();
  if (r.top < c.top) container.scrollTop -= c.top - r.top + 8;
  else if (r.bottom > c.bottom) container.scrollTop += r.bottom - c.bottom + 8;
}

function buildPanels(view, job, result, lines, overlay) {
  const tabs = [];
  if (result.fields && typeof result.fields === "object") tabs.push(["fields", "Fields", () => fieldsPanel(result.fields)]);
  if (result.markdown) tabs.push(["markdown", "Document", () => h("div", { class: "markdown" }, renderMarkdown(result.markdown))]);
  tabs.push(["lines", `Lines (${lines.length})`, () => linesPanel(lines, overlay)]);
  tabs.push(["text", "Text", () => h("pre", { class: "plain-text" }, result.text || "(no text)")]);
  if (result.raw) tabs.push(["raw", "Model output", () => h("pre", { class: "plain-text" }, result.raw)]);

  const tablist = $(view, ".tabs");
  const panels = $(view, ".panels");
  const buttons = [];
  tabs.forEach(([name, label, make], idx) => {
    const tabId = `tab-${name}`;
    const panelId = `panel-${name}`;
    const button = h("button", {
      type: "button", role: "tab", id: tabId, class: "tab", "aria-controls": panelId,
      "aria-selected": idx === 0 ? "true" : "false", tabindex: idx === 0 ? "0" : "-1",
      dataset: { tab: name },
    }, label);
    const panel = h("div", { role: "tabpanel", id: panelId, class: `panel panel-${name}`, "aria-labelledby": tabId, tabindex: "0" }, make());
    panel.hidden = idx !== 0;
    buttons.push(button);
    tablist.append(button);
    panels.append(panel);
  });
  function activate(idx, focus) {
    buttons.forEach((b, j) => {
      b.setAttribute("aria-selected", j === idx ? "true" : "false");
      b.tabIndex = j === idx ? 0 : -1;
      document.getElementById(b.getAttribute("aria-controls")).hidden = j !== idx;
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
    panels.prepend(h("p", { class: "warn" }, "The engine stopped early: this result may be incomplete."));
  }
}

function linesPanel(lines, overlay) {
  if (!lines.length) return h("p", { class: "muted" }, "No text was found in this image.");
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
  const entries = Object.entries(fields);
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

function buildActions(view, job, result) {
  const status = $(view, ".copy-status");
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
    status.textContent = ok ? "Text copied." : "Copying is blocked in this browser; select the text in the Text tab instead.";
    setTimeout(() => {
      status.textContent = "";
    }, 4000);
  });
  $(view, ".download-json").addEventListener("click", () => {
    const blob = new Blob([`${JSON.stringify(job, null, 2)}\n`], { type: "application/json" });
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: `${job.id}.json`, class: "visually-hidden" });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  });
}
