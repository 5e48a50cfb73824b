// @ts-check
// The tabs beside a job's image (barcodes with their GS1 fields, fields, Markdown, lines, text, model
// output) and the actions under them: copy the text, download the job as JSON and the result in the
// server's formats (/console/config.json).

import { api, ApiError } from "./api.js";
import { $, h, percent } from "./dom.js";
import { renderMarkdown } from "./markdown.js";
import { config } from "./config.js";

const GS1_FIELD_NAMES = {
  sscc: "SSCC", gtin: "GTIN", batch_lot: "Batch / lot", expiry_date: "Expiry date", best_before_date: "Best before",
  production_date: "Production date", packaging_date: "Packaging date", serial: "Serial number", count: "Count",
  gln: "GLN", ship_to_gln: "Ship to (GLN)", content_gtin: "Content (GTIN)",
};

/** The tabs beside the image; each page-dependent panel is rebuilt when the page changes. */
export function buildPanels(view, job, result, pages, overlay) {
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

export function buildActions(view, job, result, ctx) {
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
