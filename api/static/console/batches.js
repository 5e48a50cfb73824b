// Batches: GET /v1/batches/<id> (counts planned, queued, running, succeeded, failed, skipped;
// throughput; ETA) and GET /v1/batches/<id>/failures, refreshed while the batch runs. The list
// (GET /v1/batches) is shown only when this server offers it (see /console/config.json).

import { api } from "./api.js";
import { $, duration, h, showError, when } from "./dom.js";
import { config } from "./config.js";

const REFRESH_MS = 3000;
const SEGMENTS = [
  ["succeeded", "Succeeded"],
  ["failed", "Failed"],
  ["skipped", "Skipped"],
  ["canceled", "Canceled"],
  ["running", "Running"],
  ["queued", "Queued"],
];
const DONE = new Set(["completed", "canceled"]);

export function renderBatches(batchId, ctx) {
  const { view, mount, signal, fail, go } = ctx;
  mount("tpl-batches", batchId ? `Batch ${batchId}` : "Batches");
  const form = $(view, ".batch-form");
  const input = $(view, "#batch-id");
  const error = $(form, ".form-error");
  input.value = batchId;
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const id = input.value.trim();
    if (!id) {
      showError(error, "Enter a batch id.");
      input.focus();
      return;
    }
    go(`#/batches/${encodeURIComponent(id)}`);
  });
  // The batch shown above and its entry in the list below never disagree: each refresh of the one
  // updates the other.
  const sync = (n) => {
    const li = view.querySelector(`.batch-items li[data-batch-id="${CSS.escape(n.id)}"]`);
    if (li) li.replaceWith(listItem(n));
  };
  if (batchId) showBatch(batchId, view, signal, fail, error, sync);
  showList(view, signal, fail);
}

function listItem(n) {
  return h("li", { dataset: { batchId: n.id } },
    h("div", { class: "batch-item-head" },
      h("a", { href: `#/batches/${encodeURIComponent(n.id)}` }, h("code", null, n.id)),
      h("span", { class: "muted" }, `${STATUS_WORDS[n.status] || n.status} · ${n.finished} of ${n.total}${n.knownTotal ? "" : "+"} finished`
        + `${n.failed ? ` · ${n.failed} failed` : ""} · ${n.task}${n.created ? ` · ${when(n.created)}` : ""}`)),
    bar(n, { compact: true }));
}

// ------------------------------------------------------------------ list
async function showList(view, signal, fail) {
  const box = $(view, ".batch-list-body");
  let cfg;
  try {
    cfg = await config();
  } catch (err) {
    fail(err);
    return;
  }
  if (!cfg.batches || !cfg.batches.list) {
    box.replaceChildren(h("p", { class: "muted" },
      cfg.batches && cfg.batches.get
        ? "No batches list on this server: enter a batch id above to follow a batch."
        : "No batches: this server does not offer the batches API yet."));
    return;
  }
  // Refreshed while any listed batch is still running.
  while (!signal.aborted) {
    let items;
    try {
      const data = await api("/v1/batches", { signal });
      items = Array.isArray(data.items) ? data.items : [];
    } catch (err) {
      if (err.name === "AbortError") return;
      if (err.status === 401) fail(err);
      else box.replaceChildren(h("p", { class: "form-error" }, err.message));
      return;
    }
    if (!items.length) {
      box.replaceChildren(h("p", { class: "muted" }, "No batches yet."));
      return;
    }
    const shown = items.map(normalize);
    box.replaceChildren(h("ul", { class: "batch-items" }, shown.map(listItem)));
    if (shown.every((n) => n.done)) return;
    await pause(REFRESH_MS * 2, signal);
  }
}

function pause(ms, signal) {
  return new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });
}

// ------------------------------------------------------------------ one batch
function actions(n, path, signal, error, refresh) {
  const buttons = [];
  const act = async (button, method, url, busy) => {
    const label = button.textContent;
    button.disabled = true;
    button.textContent = busy;
    showError(error, "");
    try {
      await api(url, { method, signal });
      refresh();
    } catch (err) {
      if (err.name !== "AbortError") showError(error, err.message);
      button.disabled = false;
      button.textContent = label;
    }
  };
  if (n.failed > 0 && n.status !== "canceled") {
    const b = h("button", { type: "button", class: "secondary retry-failed" }, "Retry failed items");
    b.addEventListener("click", () => act(b, "POST", `${path}/retry-failed`, "Retrying…"));
    buttons.push(b);
  }
  if (!n.done) {
    const b = h("button", { type: "button", class: "secondary danger cancel-batch" }, "Cancel batch");
    b.addEventListener("click", () => {
      if (window.confirm("Cancel this batch? Items not started yet will not be read.")) act(b, "DELETE", path, "Canceling…");
    });
    buttons.push(b);
  }
  return buttons.length ? h("div", { class: "batch-actions" }, buttons) : null;
}

async function showBatch(batchId, view, signal, fail, error, sync) {
  const section = $(view, ".batch-detail");
  const head = h("div");
  const failures = h("div", { class: "card failures" }, h("h2", null, "Failures"));
  section.replaceChildren(head, failures);
  const path = `/v1/batches/${encodeURIComponent(batchId)}`;
  let failuresShown = -1;
  let wake = null;
  const refresh = () => {
    failuresShown = -1;
    if (wake) wake();
  };
  while (!signal.aborted) {
    let batch;
    try {
      batch = await api(path, { signal });
    } catch (err) {
      if (err.name === "AbortError") return;
      if (err.status === 401) {
        fail(err);
        return;
      }
      section.hidden = true;
      showError(error, err.status === 404 && !err.detail ? `No batch ${batchId}.` : err.message);
      return;
    }
    const n = normalize(batch);
    sync(n);
    section.hidden = false;
    head.replaceChildren(summary(n, batchId, actions(n, path, signal, error, refresh)));
    if (n.failed !== failuresShown) {
      failuresShown = n.failed;
      if (failuresShown > 0) loadFailures(path, failures, signal);
      else failures.replaceChildren(h("h2", null, "Failures"), h("p", { class: "muted" }, "No failures so far."));
    }
    if (n.done) {
      await new Promise((resolve) => {
        wake = resolve;
        signal.addEventListener("abort", resolve, { once: true });
      });
      continue;
    }
    await new Promise((resolve) => {
      wake = resolve;
      const t = setTimeout(resolve, REFRESH_MS);
      signal.addEventListener("abort", () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
  }
}

async function loadFailures(path, box, signal) {
  try {
    const data = await api(`${path}/failures?limit=200`, { signal });
    const items = Array.isArray(data.items) ? data.items : [];
    const rows = items.map((f) => h("tr", null,
      h("td", { "data-label": "Item" }, h("code", null, String(f.key || "–")), f.line ? h("span", { class: "muted" }, ` (line ${f.line})`) : null),
      h("td", { "data-label": "Reason" }, String(f.message || f.code || "no reason given")),
      h("td", { "data-label": "Code" }, h("code", null, String(f.code || "–"))),
      h("td", { "data-label": "Retry" }, f.retryable ? "can be retried" : "no")));
    const more = data.next_cursor ? h("p", { class: "muted" }, `Showing the first ${items.length} failures.`) : null;
    box.replaceChildren(h("h2", null, `Failures (${items.length}${data.next_cursor ? "+" : ""})`), rows.length
      ? h("div", { class: "table-scroll" }, h("table", { class: "jobs-table failures-table" },
          h("thead", null, h("tr", null, ["Item", "Reason", "Code", "Retry"].map((c) => h("th", { scope: "col" }, c)))),
          h("tbody", null, rows)))
      : h("p", { class: "muted" }, "No failures listed."));
    if (more) box.append(more);
  } catch (err) {
    if (err.name === "AbortError") return;
    box.replaceChildren(h("h2", null, "Failures"), h("p", { class: "form-error" }, err.message));
  }
}

function num(x) {
  const v = Number(x);
  return Number.isFinite(v) && v > 0 ? v : 0;
}

/** The batch view of GET /v1/batches/<id>, reduced to what the page shows. */
export function normalize(b) {
  const c = b.counts && typeof b.counts === "object" ? b.counts : {};
  const n = {
    id: String(b.id || ""),
    status: String(b.status || ""),
    task: String(b.task || ""),
    created: b.created_at || null,
    finishedAt: b.finished_at || null,
    planned: num(c.planned),
    queued: num(c.queued),
    running: num(c.running),
    succeeded: num(c.succeeded),
    failed: num(c.failed),
    skipped: num(c.skipped),
    canceled: num(c.canceled),
  };
  n.finished = Number.isFinite(Number(b.done)) ? num(b.done) : n.succeeded + n.failed + n.skipped + n.canceled;
  // total is known from a manifest at once, from a prefix only when its listing is done
  n.knownTotal = b.total !== null && b.total !== undefined;
  n.total = n.knownTotal ? num(b.total) : Math.max(n.planned, n.finished + n.queued + n.running);
  n.done = DONE.has(n.status.toLowerCase());
  n.source = sourceText(b.source);
  n.throughput = perSecond(Number(b.throughput_items_per_s));
  n.average = perSecond(Number(b.average_items_per_s));
  n.eta = n.done ? "finished" : Number.isFinite(Number(b.eta_s)) && b.eta_s !== null ? `about ${duration(Number(b.eta_s))}` : "not known yet";
  return n;
}

function sourceText(src) {
  if (!src || typeof src !== "object") return "";
  const where = src.manifest ? `manifest ${src.manifest}` : `${src.prefix || ""}${src.glob ? ` (${src.glob})` : ""}`;
  return `${src.bucket || ""}: ${where}`;
}

function perSecond(v) {
  if (!Number.isFinite(v) || v <= 0) return "";
  return v >= 1 ? `${v.toFixed(1)} items/s` : `${(v * 60).toFixed(1)} items/min`;
}

const STATUS_WORDS = { planning: "Planning", running: "Running", completed: "Completed", canceled: "Canceled" };

function summary(n, batchId, actions) {
  const pct = n.total ? Math.floor((n.finished / n.total) * 100) : 0;
  const badgeClass = n.status === "completed" ? (n.failed ? "status-canceled" : "status-succeeded")
    : n.status === "canceled" ? "status-canceled" : "status-running";
  const fact = (k, v) => h("div", { class: "fact" }, h("dt", null, k), h("dd", null, v || "–"));
  return h("div", { class: "card batch-summary" },
    h("div", { class: "batch-head" },
      h("h2", null, "Batch ", h("code", null, n.id || batchId)),
      h("span", { class: `badge ${badgeClass}` },
        `${STATUS_WORDS[n.status] || n.status || "Unknown"}${n.status === "completed" && n.failed ? `, ${n.failed} failed` : ""}`)),
    h("p", { class: "batch-pct" }, `${pct}% · ${n.finished} of ${n.total}${n.knownTotal ? "" : "+"} items finished`,
      n.knownTotal ? null : h("span", { class: "muted" }, " (still listing the source)")),
    bar(n),
    h("dl", { class: "facts counts" },
      [["Planned", n.planned], ...SEGMENTS.map(([k, w]) => [w, n[k]])].map(([k, v]) =>
        h("div", { class: "fact" }, h("dt", null, h("span", { class: `dot dot-${k.toLowerCase()}`, "aria-hidden": "true" }), k),
          h("dd", { "data-count": k.toLowerCase() }, String(v))))),
    h("dl", { class: "facts" },
      fact("Throughput", n.throughput),
      fact("Average", n.average),
      fact("Time left", n.eta),
      fact("Task", n.task),
      fact("Source", n.source),
      fact("Started", n.created ? when(n.created) : "")),
    actions);
}

function bar(n, { compact = false } = {}) {
  const total = n.total || 1;
  const label = `${n.finished} of ${n.total} finished`;
  return h("div", {
    class: `progress${compact ? " compact" : ""}`, role: "progressbar", "aria-label": label,
    "aria-valuemin": "0", "aria-valuemax": String(n.total), "aria-valuenow": String(n.finished),
  }, SEGMENTS.filter(([k]) => n[k] > 0).map(([k, word]) => {
    const seg = h("span", { class: `seg seg-${k}`, title: `${word}: ${n[k]}` });
    seg.style.width = `${Math.min(100, (n[k] / total) * 100)}%`;
    return seg;
  }));
}
