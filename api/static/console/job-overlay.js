// @ts-check
// The SVG layer over a job's image: one shape per recognised line (.ocr-box) and, in another colour, per
// decoded barcode (.barcode-box); a tip with the text and confidence on hover, tap or selection.

import { $, $$, h, percent, svg } from "./dom.js";

/** The SVG layer over the image: one shape per line (.ocr-box) and per barcode (.barcode-box). */
export function makeOverlay(view) {
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
