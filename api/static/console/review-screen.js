// @ts-check
// One review (#/reviews/<id>): opening it claims it (POST .../review/claim), renewed while the screen is open;
// the claim card; the decisions (approve, correct, reject: PUT .../review) and a refusal placed next to the
// value it names; J / K through the queue as last listed; the keyboard (Enter, Ctrl+Enter, Tab, arrows, Escape).
// The editable items and the image are review-editor.js.

import { api, ApiError, errorText } from "./api.js";
import { $, $$, h, showError, when } from "./dom.js";
import { ReviewEditor } from "./review-editor.js";
import {
  DECISION_WORDS, clock, filtersOf, hashQuery, isLetter, isTyping, reviewHref, savedQueue, saveQueue,
} from "./review-shared.js";

const LEASE_S = 300; // a job skipped with J stays claimed at most this long
const RENEW_MS = 120_000; // the claim is renewed while the screen is open

// ------------------------------------------------------------------ one review
export function renderReview(jobId, ctx) {
  const { view, mount, fail } = ctx;
  mount("tpl-review", `Review ${jobId}`);
  $(view, ".job-id").textContent = jobId;
  const filters = filtersOf(hashQuery());
  const back = /** @type {HTMLAnchorElement} */ ($(view, ".back"));
  back.href = filters.size ? `#/reviews?${filters}` : "#/reviews";
  /** @type {HTMLAnchorElement} */ ($(view, ".job-link")).href = `#/jobs/${encodeURIComponent(jobId)}`;
  open(jobId, filters, ctx).catch((err) => fail(err));
}

async function open(jobId, filters, ctx) {
  const { view, signal, go } = ctx;
  const path = `/v1/jobs/${encodeURIComponent(jobId)}`;
  let job = await api(path, { signal });
  let refused = null; // the claim's 409 (held by someone else, resolved, not reviewable), shown as it came
  let mine = false;
  if (job.review && job.review.state !== "resolved") {
    try {
      const answer = await api(`${path}/review/claim?lease_s=${LEASE_S}`, { method: "POST", signal });
      job.review = answer.review;
      mine = true;
    } catch (err) {
      if (!(err instanceof ApiError) || err.status !== 409) throw err;
      refused = err;
      job = await api(path, { signal }); // who holds it now, and until when
    }
  }
  if (signal.aborted) return;
  const screen = new ReviewScreen(job, mine, filters, ctx);
  screen.showClaim(refused);
  if (mine) {
    const renew = setInterval(() => {
      api(`${path}/review/claim?lease_s=${LEASE_S}`, { method: "POST", signal })
        .then((answer) => screen.renewed(answer.review))
        .catch((err) => screen.lost(err));
    }, RENEW_MS);
    signal.addEventListener("abort", () => clearInterval(renew));
  }
  screen.keyboard(go);
}

class ReviewScreen extends ReviewEditor {
  // ---------------------------------------------------------------- claim
  showClaim(refused) {
    const card = $(this.view, ".claim-card");
    const r = this.review || {};
    card.hidden = false;
    card.className = "card claim-card";
    if (refused) {
      const holder = r.claimed_by;
      card.classList.add("claim-other");
      if (refused.code === "review_claimed" && holder) {
        card.replaceChildren(
          h("p", { class: "claim-who" }, `Claimed by ${holder.name || holder.key_id} until ${clock(r.lease_until)}`,
            h("span", { class: "muted" }, ` (${when(r.lease_until)})`)),
          h("p", { class: "muted" }, "You can look, not change it; it is open to everyone again when the claim ends."),
          h("p", { class: "muted claim-detail" }, refused.message));
      } else {
        card.replaceChildren(h("p", { class: "claim-who" }, refused.message));
      }
      if (r.state === "resolved") card.append(this.resolvedText(r));
      return;
    }
    if (!this.review) {
      card.classList.add("claim-other");
      card.replaceChildren(h("p", { class: "claim-who" }, "This job has no review: it was not routed to one."));
      return;
    }
    if (r.state === "resolved") {
      card.replaceChildren(this.resolvedText(r));
      return;
    }
    card.classList.add("claim-mine");
    card.replaceChildren(h("p", { class: "claim-who" }, `You are reviewing this job until ${clock(r.lease_until)}`,
      h("span", { class: "muted" }, " (renewed while this page is open)")));
  }

  resolvedText(r) {
    const by = r.resolved_by ? ` by ${r.resolved_by.name || r.resolved_by.key_id}` : "";
    const why = r.reject_reason ? `: ${r.reject_reason}` : "";
    return h("p", { class: "claim-who" }, `${DECISION_WORDS[r.decision] || "Resolved"}${by} ${when(r.resolved_at)}${why}`,
      r.note ? h("span", { class: "muted" }, ` · “${r.note}”`) : null);
  }

  renewed(review) {
    this.review = review;
    this.showClaim(null);
  }

  lost(err) {
    if (err && err.name === "AbortError") return;
    this.mine = false;
    for (const item of this.items) item.input.disabled = true;
    for (const b of $$(this.view, ".decision-buttons button, #review-note")) b.disabled = true;
    const card = $(this.view, ".claim-card");
    card.className = "card claim-card claim-other";
    card.replaceChildren(h("p", { class: "claim-who" }, `Your claim could not be renewed: ${errorText(err)}`));
  }

  // ---------------------------------------------------------------- the decision
  wire() {
    super.wire();
    $(this.view, ".approve").addEventListener("click", () => this.approve());
    $(this.view, ".save").addEventListener("click", () => this.saveCorrection());
    const rejectBox = $(this.view, ".reject-box");
    $(this.view, ".reject").addEventListener("click", () => {
      rejectBox.hidden = false;
      /** @type {HTMLElement} */ ($(rejectBox, "select")).focus();
    });
    $(this.view, ".confirm-reject").addEventListener("click", () => this.reject());
  }

  note() {
    const v = /** @type {HTMLInputElement} */ ($(this.view, "#review-note")).value.trim();
    return v || undefined;
  }

  status(text) {
    $(this.view, ".save-status").textContent = text;
  }

  refuse(text) {
    showError($(this.view, ".save-error"), text);
  }

  approve() {
    if (!this.mine) return this.refuse(this.cannot());
    const edits = this.changed();
    if (edits.length) {
      // Enter must never throw corrections away: approving is for an unchanged result.
      return this.refuse(`You changed ${edits.length} ${edits.length === 1 ? "value" : "values"}: Ctrl+Enter saves the correction.`);
    }
    return this.decide({ decision: "approve", note: this.note() }, "Approved.");
  }

  saveCorrection() {
    if (!this.mine) return this.refuse(this.cannot());
    const edits = this.changed();
    if (!edits.length) return this.refuse("Nothing was changed: Enter approves the result as it is.");
    const corrections = { lines: [], gs1: [], fields: {} };
    for (const item of edits) {
      if (item.kind === "line") {
        const page = this.pages[item.page];
        corrections.lines.push(page.document ? { index: item.index, page: page.number, text: item.input.value } : { index: item.index, text: item.input.value });
      } else if (item.kind === "gs1") {
        corrections.gs1.push({ barcode: item.barcode, ai: item.ai, value: item.input.value });
      } else if (item.kind === "field" && item.name) {
        corrections.fields[item.name] = item.input.value;
      }
    }
    // The server validates everything again and refuses the whole save naming one value: shown next to it.
    return this.decide({ decision: "correct", corrections, note: this.note() },
      `Corrected ${edits.length} ${edits.length === 1 ? "value" : "values"}.`);
  }

  reject() {
    if (!this.mine) return this.refuse(this.cannot());
    const reason = /** @type {HTMLSelectElement} */ ($(this.view, "#reject-reason")).value;
    return this.decide({ decision: "reject", reason, note: this.note() }, "Rejected.");
  }

  cannot() {
    const r = this.review || {};
    if (r.state === "resolved") return "This review is resolved; a resolution is final.";
    if (r.claimed_by) return `${r.claimed_by.name || r.claimed_by.key_id} holds this review until ${clock(r.lease_until)}.`;
    return "This job cannot be reviewed here.";
  }

  async decide(body, done) {
    if (this.busy) return;
    this.busy = true;
    this.refuse("");
    this.status("Saving…");
    try {
      const answer = await api(`/v1/jobs/${encodeURIComponent(this.job.id)}/review`, { method: "PUT", body, signal: this.ctx.signal });
      this.review = answer.review;
      this.mine = false;
      this.status(`${done} Opening the next job…`);
      await this.move(1, true);
    } catch (err) {
      if (err.name === "AbortError") return;
      this.status("");
      if (err instanceof ApiError && err.status === 401) {
        this.ctx.fail(err);
        return;
      }
      this.placeProblem(err);
    } finally {
      this.busy = false;
    }
  }

  /** A 4xx on save, next to the value it names (problem.errors[].field and its detail), else above the buttons. */
  placeProblem(err) {
    const text = errorText(err);
    const field = err instanceof ApiError && err.errors[0] ? err.errors[0].field : "";
    const detail = err instanceof ApiError ? err.detail : "";
    const edits = this.changed();
    let target = null;
    if (field === "corrections.gs1" || field === "corrections.barcodes") {
      target = edits.find((i) => i.kind === "gs1" && detail.includes(`(${i.ai})`) && detail.includes(i.input.value))
        || edits.find((i) => i.kind === "gs1");
    } else if (field === "corrections.lines") {
      target = edits.find((i) => i.kind === "line" && detail.includes(`[${i.index}]`));
    } else if (field === "corrections.fields") {
      target = edits.find((i) => i.kind === "field" && detail.includes(`'${i.name}'`));
    }
    if (target) {
      this.say(target, text, "bad");
      target.note.classList.add("from-server");
      target.input.focus();
      this.refuse("The server refused the save; the value is marked.");
    } else {
      this.refuse(text);
    }
  }

  // ---------------------------------------------------------------- the queue
  /** The next (1) or previous (-1) job of the queue as last listed; after a decision, past the end: the queue. */
  async move(step, afterDecision = false) {
    const { go, signal } = this.ctx;
    const filters = this.filters.toString();
    let { ids } = savedQueue();
    if (savedQueue().filters !== filters) ids = [];
    let at = ids.indexOf(this.job.id);
    if (at < 0) {
      // Opened from a link: the open queue now, around this job (it is claimed, so the list lacks it).
      const q = new URLSearchParams(this.filters);
      q.set("state", "open");
      q.set("limit", "200");
      const data = await api(`/v1/reviews?${q}`, { signal });
      const opened = Date.parse((this.review && this.review.opened_at) || "") || 0;
      const items = (data.items || []).map((i) => ({ id: i.job_id, t: Date.parse(i.review.opened_at) || 0 }));
      const before = items.filter((i) => i.t < opened || (i.t === opened && i.id < this.job.id)).map((i) => i.id);
      const after = items.filter((i) => !before.includes(i.id)).map((i) => i.id);
      ids = [...before, this.job.id, ...after];
      saveQueue(filters, ids);
      at = before.length;
    }
    const next = ids[at + step];
    if (next) {
      go(reviewHref(next, this.filters));
      return;
    }
    if (afterDecision) {
      go(filters ? `#/reviews?${filters}` : "#/reviews");
      return;
    }
    this.status(step > 0 ? "This is the last job in the queue." : "This is the first job in the queue.");
  }

  // ---------------------------------------------------------------- keys
  keyboard() {
    const { view, signal } = this.ctx;
    const form = /** @type {HTMLElement} */ ($(view, ".review-form"));
    const onKey = (event) => {
      const target = /** @type {HTMLElement} */ (event.target);
      if (this.busy) return;
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
        event.preventDefault();
        this.saveCorrection();
        return;
      }
      if (event.key === "Enter" && !event.shiftKey && !event.altKey) {
        // Buttons, links and lists keep their own Enter.
        if (target.matches("button, a, select, textarea, summary")) return;
        if (target.matches("input") && !view.contains(target)) return;
        event.preventDefault();
        this.approve();
        return;
      }
      if (event.key === "Tab" && !event.ctrlKey && !event.altKey && !event.metaKey) {
        const flagged = this.items.filter((i) => i.flagged && !i.input.disabled).map((i) => i.input);
        if (!flagged.length) return;
        const at = flagged.indexOf(/** @type {HTMLInputElement} */ (target));
        const outside = target === document.body || target.matches("h1") || target === form || target === $(view, "#main");
        if (at < 0 && outside) {
          event.preventDefault();
          this.focus(flagged[event.shiftKey ? flagged.length - 1 : 0]);
        } else if (at >= 0) {
          const next = at + (event.shiftKey ? -1 : 1);
          if (next >= 0 && next < flagged.length) {
            event.preventDefault();
            this.focus(flagged[next]);
          } // past the last one: the browser's order (the note, then the decision buttons)
        }
        return;
      }
      if (event.key === "Escape" && isTyping(target) && view.contains(target)) {
        event.preventDefault();
        form.focus();
        return;
      }
      if ((event.key === "ArrowDown" || event.key === "ArrowUp") && target.matches(".review-input")) {
        // The arrow keys reach every item, flagged or not.
        const inputs = this.items.map((i) => i.input);
        const next = inputs[inputs.indexOf(/** @type {HTMLInputElement} */ (target)) + (event.key === "ArrowDown" ? 1 : -1)];
        if (next) {
          event.preventDefault();
          this.focus(next);
        }
        return;
      }
      if ((isLetter(event, "j") || isLetter(event, "k")) && !isTyping(target)) {
        event.preventDefault();
        this.move(isLetter(event, "j") ? 1 : -1).catch((err) => this.ctx.fail(err));
      }
    };
    document.addEventListener("keydown", onKey);
    signal.addEventListener("abort", () => document.removeEventListener("keydown", onKey));
  }

  focus(input) {
    input.focus();
    input.select();
    input.scrollIntoView({ block: "nearest" });
  }
}
