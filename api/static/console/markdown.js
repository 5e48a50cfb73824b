// A small, safe Markdown renderer for `parse` results. It builds DOM nodes and sets text with
// text nodes only, so HTML in the model's output is shown as text, never interpreted.
// Supported: headings, paragraphs, line breaks, bullet and numbered lists, block quotes,
// fenced code, horizontal rules, pipe tables, and inline code, bold, italic, links (http/https/mailto).

import { h } from "./dom.js";

const SAFE_URL = /^(https?:|mailto:)/i;

// ------------------------------------------------------------------ inline
const INLINE = [
  { re: /`([^`]+)`/y, make: (m) => h("code", null, m[1]) },
  { re: /\*\*(?=\S)([\s\S]*?\S)\*\*/y, make: (m) => h("strong", null, inline(m[1])) },
  { re: /__(?=\S)([\s\S]*?\S)__/y, make: (m) => h("strong", null, inline(m[1])) },
  { re: /\*(?=\S)([^*]*?\S)\*/y, make: (m) => h("em", null, inline(m[1])) },
  { re: /\b_(?=\S)([^_]*?\S)_\b/y, make: (m) => h("em", null, inline(m[1])) },
  {
    re: /\[([^\]]+)\]\(([^)\s]+)\)/y,
    make: (m) =>
      SAFE_URL.test(m[2])
        ? h("a", { href: m[2], rel: "noopener noreferrer nofollow", target: "_blank" }, inline(m[1]))
        : document.createTextNode(m[1]),
  },
];

export function inline(src) {
  const out = [];
  let plain = "";
  let i = 0;
  while (i < src.length) {
    const ch = src[i];
    if (ch === "\\" && i + 1 < src.length && /[\\`*_[\]()#+\-.!|]/.test(src[i + 1])) {
      plain += src[i + 1];
      i += 2;
      continue;
    }
    let matched = null;
    if ("`*_[".includes(ch)) {
      for (const rule of INLINE) {
        rule.re.lastIndex = i;
        const m = rule.re.exec(src);
        if (m) {
          matched = { node: rule.make(m), end: i + m[0].length };
          break;
        }
      }
    }
    if (matched) {
      if (plain) out.push(document.createTextNode(plain));
      plain = "";
      out.push(matched.node);
      i = matched.end;
    } else {
      plain += ch;
      i += 1;
    }
  }
  if (plain) out.push(document.createTextNode(plain));
  return out;
}

// ------------------------------------------------------------------ blocks
const RE = {
  fence: /^\s{0,3}(```|~~~)\s*([\w+-]*)\s*$/,
  heading: /^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$/,
  hr: /^\s{0,3}([-*_])(\s*\1){2,}\s*$/,
  quote: /^\s{0,3}>\s?(.*)$/,
  bullet: /^\s*[-*+]\s+(.*)$/,
  ordered: /^\s*(\d{1,9})[.)]\s+(.*)$/,
  tableSep: /^\s*\|?\s*:?-{1,}:?\s*(\|\s*:?-{1,}:?\s*)*\|?\s*$/,
};

function splitRow(line) {
  let s = line.trim();
  if (s.startsWith("|")) s = s.slice(1);
  if (s.endsWith("|") && !s.endsWith("\\|")) s = s.slice(0, -1);
  const cells = [];
  let cur = "";
  for (let i = 0; i < s.length; i++) {
    if (s[i] === "\\" && s[i + 1] === "|") {
      cur += "|";
      i++;
    } else if (s[i] === "|") {
      cells.push(cur.trim());
      cur = "";
    } else {
      cur += s[i];
    }
  }
  cells.push(cur.trim());
  return cells;
}

function isTableStart(lines, i) {
  return lines[i].includes("|") && i + 1 < lines.length && RE.tableSep.test(lines[i + 1]) && lines[i + 1].includes("-");
}

function startsBlock(lines, i) {
  const l = lines[i];
  return RE.fence.test(l) || RE.heading.test(l) || RE.hr.test(l) || RE.quote.test(l) || RE.bullet.test(l) ||
    RE.ordered.test(l) || isTableStart(lines, i);
}

function withBreaks(parts) {
  const out = [];
  parts.forEach((p, idx) => {
    if (idx) out.push(h("br"));
    out.push(...inline(p));
  });
  return out;
}

export function renderMarkdown(src) {
  const frag = document.createDocumentFragment();
  const lines = String(src || "").replace(/\r\n?/g, "\n").split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i];
    if (!line.trim()) {
      i++;
      continue;
    }
    let m;
    if ((m = RE.fence.exec(line))) {
      const body = [];
      i++;
      while (i < lines.length && !new RegExp(`^\\s{0,3}${m[1]}\\s*$`).test(lines[i])) body.push(lines[i++]);
      i++;
      frag.append(h("pre", null, h("code", m[2] ? { "data-lang": m[2] } : null, body.join("\n"))));
    } else if ((m = RE.heading.exec(line))) {
      frag.append(h(`h${m[1].length}`, null, inline(m[2])));
      i++;
    } else if (RE.hr.test(line)) {
      frag.append(h("hr"));
      i++;
    } else if (isTableStart(lines, i)) {
      const head = splitRow(line);
      const aligns = splitRow(lines[i + 1]).map((c) => (c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : null));
      i += 2;
      const rows = [];
      while (i < lines.length && lines[i].trim() && lines[i].includes("|")) rows.push(splitRow(lines[i++]));
      const cell = (tag, text, col) => h(tag, aligns[col] ? { class: `align-${aligns[col]}` } : null, inline(text));
      frag.append(
        h("div", { class: "table-wrap" },
          h("table", null,
            h("thead", null, h("tr", null, head.map((c, col) => cell("th", c, col)))),
            h("tbody", null, rows.map((r) => h("tr", null, head.map((_, col) => cell("td", r[col] || "", col))))))),
      );
    } else if (RE.quote.test(line)) {
      const body = [];
      while (i < lines.length && (m = RE.quote.exec(lines[i]))) {
        body.push(m[1]);
        i++;
      }
      const inner = renderMarkdown(body.join("\n"));
      frag.append(h("blockquote", null, inner));
    } else if (RE.bullet.test(line) || RE.ordered.test(line)) {
      const ordered = !RE.bullet.test(line);
      const re = ordered ? RE.ordered : RE.bullet;
      const items = [];
      const first = ordered ? Number(RE.ordered.exec(line)[1]) : 1;
      while (i < lines.length && lines[i].trim()) {
        if ((m = re.exec(lines[i]))) {
          items.push([ordered ? m[2] : m[1]]);
        } else if (startsBlock(lines, i) || !items.length) {
          break;
        } else {
          items[items.length - 1].push(lines[i].trim()); // a continuation line
        }
        i++;
      }
      const list = h(ordered ? "ol" : "ul", ordered && first !== 1 ? { start: first } : null,
        items.map((parts) => h("li", null, withBreaks(parts))));
      frag.append(list);
    } else {
      const parts = [];
      while (i < lines.length && lines[i].trim() && (!parts.length || !startsBlock(lines, i))) parts.push(lines[i++].trim());
      frag.append(h("p", null, withBreaks(parts)));
    }
  }
  return frag;
}
