// The ocrq console: a hash-routed single page over the REST API.
//   #/new            submit an image
//   #/jobs           recent jobs (filter, pages)
//   #/jobs/<id>      one job: follows it until it is done, then shows the result
//   #/batches[/<id>] batch progress
//   #/reviews        the review queue (filters in the query: state, reason, batch_id)
//   #/reviews/<id>   one job's review: claims it, then approve, correct or reject by keyboard
// Each view gets an AbortSignal that fires when the user leaves it, so long-polls and timers stop.

import { api, clearKey, errorText, getKey, setKey, SignedOut } from "./api.js";
import { $, $$, clone, showError } from "./dom.js";
import { renderJob } from "./job.js";
import { renderJobs } from "./jobs.js";
import { renderBatches } from "./batches.js";
import { renderReview, renderReviewQueue } from "./reviews.js";
import { config } from "./config.js";

const view = document.getElementById("view");
const notice = document.getElementById("notice");
const nav = document.getElementById("nav");
const signoutButton = document.getElementById("signout");

let leave = null; // AbortController of the current view

export function setNotice(message) {
  showError(notice, message);
}

export function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function signOut(message) {
  clearKey();
  if (leave) leave.abort();
  setNotice(message || "");
  go("#/signin");
}

/** What every view calls on an error it does not handle itself. */
export function fail(err, box = notice) {
  if (err && err.name === "AbortError") return;
  if (err instanceof SignedOut) {
    signOut(`You were signed out. ${errorText(err)}`);
    return;
  }
  showError(box, errorText(err));
}

function mount(templateId, title) {
  view.replaceChildren(clone(templateId));
  document.title = title ? `${title} · ocrq console` : "ocrq console";
}

function focusHeading() {
  const heading = view.querySelector("h1");
  if (heading) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

// ------------------------------------------------------------------ sign in
function renderSignin(signal, next) {
  mount("tpl-signin", "Sign in");
  const form = $(view, ".signin-form");
  const input = $(view, "#apikey");
  const error = $(view, ".form-error");
  const button = $(form, "button");
  input.focus();
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const key = input.value.trim();
    if (!key) {
      showError(error, "Enter your API key.");
      input.focus();
      return;
    }
    showError(error, "");
    button.disabled = true;
    button.textContent = "Checking…";
    try {
      await api("/v1/jobs?limit=1", { key, signal });
      setKey(key);
      setNotice("");
      go(next && next !== "#/signin" ? next : "#/new");
    } catch (err) {
      if (err.name === "AbortError") return;
      showError(error, errorText(err));
      input.select();
    } finally {
      button.disabled = false;
      button.textContent = "Sign in";
    }
  });
}

// ------------------------------------------------------------------ new job
const TASK_HINTS = {
  text: "All the text in reading order, with a box for each line.",
  spotting: "Each piece of text and where it is on the image.",
  parse: "The whole document as Markdown: headings, lists and tables.",
  table: "Tables in the image as Markdown tables.",
  formula: "Mathematical formulas as LaTeX.",
  chart: "The data behind a chart.",
  fields: "Named values, such as a receipt's date and total.",
  translate: "The text, translated.",
  ask: "An answer to your question about the image.",
  spotting_json: "Each text line and where it is, from HunyuanOCR 1.5's JSON spotting. HunyuanOCR 1.5 only.",
  layout: "The page's regions (title, text, table, figure…) in reading order, with their boxes. HunyuanOCR 1.5 only.",
  layout_parse: "The whole document as Markdown, with a box for each block. HunyuanOCR 1.5 only.",
  barcodes: "Every barcode on the image, with its GS1 fields checked (SSCC, GTIN, lot, expiry…); no text reading, so it is fast.",
};

function renderNew(signal) {
  mount("tpl-new", "New job");
  const form = $(view, ".new-job");
  const fileInput = $(view, "#file");
  const cameraInput = $(view, "#camera");
  const dropzone = $(view, ".dropzone");
  const preview = $(view, ".preview");
  const previewImg = $(view, ".preview-img");
  const previewName = $(view, ".preview-name");
  const task = $(view, "#task");
  const hint = $(view, ".task-hint");
  const error = $(view, ".form-error");
  const submit = $(view, ".submit");
  let chosen = null;
  let previewUrl = null;
  signal.addEventListener("abort", () => previewUrl && URL.revokeObjectURL(previewUrl));

  function choose(file) {
    chosen = file || null;
    showError(error, "");
    if (previewUrl) URL.revokeObjectURL(previewUrl);
    previewUrl = null;
    const title = $(dropzone, ".dropzone-title");
    if (!chosen) {
      preview.hidden = true;
      dropzone.classList.remove("has-file");
      title.textContent = "Drop an image or a PDF here";
      return;
    }
    dropzone.classList.add("has-file");
    title.textContent = "Drop another image, or click to choose a different one";
    preview.hidden = false;
    previewName.textContent = `${chosen.name} · ${Math.max(1, Math.round(chosen.size / 1024))} KB`;
    if (chosen.type.startsWith("image/")) {
      previewUrl = URL.createObjectURL(chosen);
      previewImg.hidden = false;
      previewImg.src = previewUrl;
    } else {
      previewImg.hidden = true;
      previewImg.removeAttribute("src");
    }
  }
  // A file that is not an image (or cannot be shown) just gets no preview; the server decides.
  previewImg.addEventListener("error", () => {
    previewImg.hidden = true;
  });
  fileInput.addEventListener("change", () => choose(fileInput.files[0]));
  cameraInput.addEventListener("change", () => choose(cameraInput.files[0]));

  for (const name of ["dragenter", "dragover"]) {
    dropzone.addEventListener(name, (event) => {
      event.preventDefault();
      dropzone.classList.add("dragging");
    });
  }
  for (const name of ["dragleave", "dragend"]) {
    dropzone.addEventListener(name, () => dropzone.classList.remove("dragging"));
  }
  dropzone.addEventListener("drop", (event) => {
    event.preventDefault();
    dropzone.classList.remove("dragging");
    const file = event.dataTransfer && event.dataTransfer.files[0];
    if (file) choose(file);
  });

  let offered = null; // the tasks this server's engine does, when known
  function syncTask() {
    hint.textContent = TASK_HINTS[task.value] || "";
    hint.classList.remove("warn");
    if (offered && !offered.tasks.includes(task.value)) {
      hint.textContent += ` This server's engine (${offered.engine}) does not do this task: it will refuse the job.`;
      hint.classList.add("warn");
    }
    for (const el of $$(view, ".task-param")) el.hidden = el.dataset.task !== task.value;
  }
  task.addEventListener("change", syncTask);
  syncTask();
  config().then((cfg) => {
    if (signal.aborted || !Array.isArray(cfg.tasks)) return;
    offered = { tasks: cfg.tasks, engine: String(cfg.engine || "?") };
    syncTask();
  });

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    showError(error, "");
    if (!chosen) {
      showError(error, "Choose an image first.");
      fileInput.focus();
      return;
    }
    const data = new FormData();
    data.append("file", chosen, chosen.name || "image");
    data.append("task", task.value);
    if (task.value === "fields") {
      const fields = $(view, "#fields").value.trim();
      if (!fields) {
        showError(error, "Enter at least one field name, such as: company, date, total.");
        $(view, "#fields").focus();
        return;
      }
      data.append("fields", fields);
    }
    if (task.value === "translate") data.append("target_lang", $(view, "#target_lang").value);
    if (task.value === "ask") {
      const instruction = $(view, "#instruction").value.trim();
      if (!instruction) {
        showError(error, "Enter a question or an instruction.");
        $(view, "#instruction").focus();
        return;
      }
      data.append("instruction", instruction);
    }
    data.append("priority", $(view, "#priority").value);
    if ($(view, "#quality-check").checked) data.append("quality", "check");
    const metadata = $(view, "#metadata").value.trim();
    if (metadata) {
      let parsed;
      try {
        parsed = JSON.parse(metadata);
      } catch {
        parsed = null;
      }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
        showError(error, 'Metadata must be a JSON object, for example {"customer": "42"}.');
        $(view, ".more").open = true;
        $(view, "#metadata").focus();
        return;
      }
      data.append("metadata", JSON.stringify(parsed));
    }
    submit.disabled = true;
    submit.textContent = "Uploading…";
    try {
      const job = await api("/v1/jobs", { method: "POST", body: data, signal });
      go(`#/jobs/${encodeURIComponent(job.id)}`);
    } catch (err) {
      if (err instanceof SignedOut) fail(err);
      else if (err.name !== "AbortError") {
        showError(error, errorText(err));
        error.focus?.();
      }
    } finally {
      submit.disabled = false;
      submit.textContent = "Run OCR";
    }
  });
}

// ------------------------------------------------------------------ router
function route() {
  if (leave) leave.abort();
  leave = new AbortController();
  const signal = leave.signal;
  const hash = location.hash || "#/new";
  if (!hash.startsWith("#/")) return; // an in-page anchor, not a route
  const parts = hash.slice(2).split("?")[0].split("/").map((p) => {
    try {
      return decodeURIComponent(p);
    } catch {
      return "";
    }
  });
  const signedIn = Boolean(getKey());
  nav.hidden = !signedIn;
  signoutButton.hidden = !signedIn;
  for (const a of $$(nav, "a")) {
    if (a.dataset.nav === parts[0]) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  if (!signedIn) {
    renderSignin(signal, hash);
    return;
  }
  if (parts[0] !== "jobs" || !parts[1]) setNotice("");
  window.scrollTo(0, 0);
  try {
    switch (parts[0]) {
      case "jobs":
        if (parts[1]) renderJob(parts[1], { view, mount, signal, fail, go });
        else renderJobs({ view, mount, signal, fail, go });
        break;
      case "batches":
        renderBatches(parts[1] || "", { view, mount, signal, fail, go });
        break;
      case "reviews":
        if (parts[1]) renderReview(parts[1], { view, mount, signal, fail, go });
        else renderReviewQueue({ view, mount, signal, fail, go });
        break;
      case "signin":
        go("#/new");
        return;
      default:
        renderNew(signal);
    }
  } catch (err) {
    fail(err);
  }
  focusHeading();
}

signoutButton.addEventListener("click", () => signOut("You are signed out."));
window.addEventListener("hashchange", route);
window.addEventListener("unhandledrejection", (event) => {
  // Aborted fetches of a view the user left are expected; anything else is shown in words.
  if (event.reason && event.reason.name === "AbortError") {
    event.preventDefault();
    return;
  }
  event.preventDefault();
  fail(event.reason);
});
route();
