// Recent jobs: GET /v1/jobs?status=&limit=&cursor= -> {items, next_cursor}, newest first.
// The API pages forward only, so "Newer" walks back through the cursors already seen.

import { api } from "./api.js";
import { $, badge, between, fullTime, h, metadataText, seconds, showError, when } from "./dom.js";
import { failureText, taskText } from "./job.js";

const PAGE = 20;
const STATUSES = new Set(["queued", "running", "succeeded", "failed", "canceled"]);

export function renderJobs(ctx) {
  const { view, mount, signal, fail } = ctx;
  mount("tpl-jobs", "Jobs");
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const filter = $(view, "#status-filter");
  const body = $(view, "tbody");
  const empty = $(view, ".empty");
  const table = $(view, ".jobs-table");
  const newer = $(view, ".newer");
  const older = $(view, ".older");
  const pageNo = $(view, ".page-no");
  const notice = document.getElementById("notice");
  if (STATUSES.has(params.get("status"))) filter.value = params.get("status");
  const pager = $(view, ".pager");
  const limit = Math.min(100, Math.max(1, Number(params.get("limit")) || PAGE));
  const cursors = [null]; // cursors[i] is the cursor that loads page i
  let page = 0;
  let nextCursor = null;
  let pending = null;

  async function load() {
    if (pending) pending.abort();
    pending = new AbortController();
    signal.addEventListener("abort", () => pending.abort(), { once: true });
    const q = new URLSearchParams({ limit: String(limit) });
    if (filter.value) q.set("status", filter.value);
    if (cursors[page]) q.set("cursor", cursors[page]);
    body.setAttribute("aria-busy", "true");
    try {
      const data = await api(`/v1/jobs?${q}`, { signal: pending.signal });
      showError(notice, "");
      const items = Array.isArray(data.items) ? data.items : [];
      nextCursor = data.next_cursor || null;
      body.replaceChildren(...items.map(row));
      empty.hidden = items.length > 0;
      table.hidden = items.length === 0;
      if (!items.length) {
        empty.replaceChildren(filter.value ? `No ${filter.value} jobs.` : "No jobs yet. ",
          filter.value ? "" : h("a", { href: "#/new" }, "Submit an image"), filter.value ? "" : " to start.");
      }
      newer.disabled = page === 0;
      older.disabled = !nextCursor;
      pageNo.textContent = `Page ${page + 1}`;
      pager.hidden = page === 0 && !nextCursor;
    } catch (err) {
      fail(err);
    } finally {
      body.removeAttribute("aria-busy");
    }
  }

  filter.addEventListener("change", () => {
    cursors.length = 1;
    page = 0;
    const q = new URLSearchParams();
    if (filter.value) q.set("status", filter.value);
    if (limit !== PAGE) q.set("limit", String(limit));
    history.replaceState(null, "", q.size ? `#/jobs?${q}` : "#/jobs");
    load();
  });
  $(view, ".refresh").addEventListener("click", load);
  older.addEventListener("click", () => {
    if (!nextCursor) return;
    cursors[page + 1] = nextCursor;
    page += 1;
    load();
  });
  newer.addEventListener("click", () => {
    if (page === 0) return;
    page -= 1;
    load();
  });
  load();
}

function row(job) {
  const href = `#/jobs/${encodeURIComponent(job.id)}`;
  const waited = between(job.created_at, job.started_at);
  const ran = between(job.started_at, job.finished_at);
  const timing = [];
  if (waited !== null) timing.push(`waited ${seconds(waited)}`);
  if (ran !== null) timing.push(`ran ${seconds(ran)}`);
  const statusCell = h("td", { "data-label": "Status" }, badge(job.status));
  if (job.status === "failed" || job.status === "canceled") {
    statusCell.append(h("span", { class: "row-error" }, failureText(job)));
  }
  if (job.needs_review) {
    statusCell.append(" ", h("span", { class: "badge needs-review", title: (job.review_reasons || []).join(", ") }, "Needs review"));
  }
  const pages = Number.isFinite(job.pages_total) ? ` · ${job.pages_total} ${job.pages_total === 1 ? "page" : "pages"}` : "";
  const tr = h("tr", { class: "job-row", dataset: { jobId: job.id } },
    h("td", { "data-label": "Created" }, h("time", { datetime: job.created_at, title: fullTime(job.created_at) }, when(job.created_at))),
    h("td", { "data-label": "Job" }, h("a", { href, class: "job-link" }, h("code", null, job.id))),
    h("td", { "data-label": "Task" }, `${taskText(job)}${pages}`),
    statusCell,
    h("td", { "data-label": "Timings" }, timing.join(" · ") || "–"),
    h("td", { "data-label": "Metadata", class: "meta-cell" }, metadataText(job.metadata) || h("span", { class: "muted" }, "–")),
  );
  // The whole row opens the job; the link inside stays the keyboard / screen-reader target.
  tr.addEventListener("click", (event) => {
    if (event.target.closest("a") || window.getSelection().toString()) return;
    location.hash = href;
  });
  return tr;
}
