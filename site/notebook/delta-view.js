// What an edit did, as the kernel measures it against the engine (py/gpt2cells/notebook/reference.py): a cell's
// badge (equal to the engine, unchanged, max |Δ|, shape changed, NaN/inf it brought in) with a toggle to show
// the output, the engine's reference or the difference; and the prediction's before → after.
//
//   const delta = new DeltaBadge((showing) => ...);  // showing: "output" | "reference" | "difference"  head.append(delta.node);  delta.update(state.delta, layer);
//   const change = new PredictionChange();  change.show(result.prediction_change);

import { formatValue, showToken } from "../grid.js";
import { el } from "./element.js";

const SHOWING = ["output", "reference", "difference"];

function passAt(delta, layer) {
  if (!delta || !delta.passes?.length) return null;
  return delta.passes[Math.min(layer, delta.passes.length - 1)] ?? null;
}

function shapeText(shape) {
  return `[${shape.join(" × ")}]`;
}

function nonFinite(pass) {
  const parts = [];
  if (pass.nan) parts.push(`${pass.nan} NaN`);
  if (pass.inf) parts.push(`${pass.inf} inf`);
  return parts.join(", ");
}

/** The difference heatmap's colours: diverging around 0, saturating at this layer's max |Δ|. */
export function differenceScale(delta, layer) {
  const pass = passAt(delta, layer);
  return { kind: "diverging", span: pass?.max_abs || 1 };
}

export class DeltaBadge {
  /** onShow(showing): the learner chose "output", "reference" or "difference". */
  constructor(onShow) {
    this.showing = "output";
    this.onShow = onShow;
    this.badge = el("span", { class: "nb-delta", testid: "delta", hidden: true });
    this.toggle = el("span", { class: "nb-tabs nb-delta-show", role: "group", "aria-label": "Show", hidden: true });
    for (const name of SHOWING) {
      const button = el("button", { type: "button", testid: `show-${name}`, text: name, "aria-pressed": String(name === "output") });
      button.addEventListener("click", () => this.choose(name));
      this.toggle.append(button);
    }
    this.node = el("span", { class: "nb-delta-box" }, this.badge, this.toggle);
  }

  choose(name) {
    if (name === this.showing) return;
    this.showing = name;
    [...this.toggle.children].forEach((b) => b.setAttribute("aria-pressed", String(b.textContent === name)));
    this.onShow(name);
  }

  /** delta: a cell state's `delta` ({passes: [...]}, null when the cell has no engine value); layer shown. */
  update(delta, layer) {
    const pass = passAt(delta, layer);
    this.badge.hidden = !pass;
    const comparable = Boolean(pass && ["engine", "unchanged", "differs"].includes(pass.mark));
    this.toggle.hidden = !comparable;
    if (!comparable && this.showing !== "output") this.choose("output");
    if (!pass) {
      delete this.badge.dataset.delta;
      return;
    }
    const where = delta.passes.length > 1 ? ` (layer ${Math.min(layer, delta.passes.length - 1)})` : "";
    this.badge.className = `nb-delta nb-delta-${pass.mark}`;
    this.badge.classList.toggle("nb-delta-mismatch", pass.mark === "differs" && pass.pristine);
    let text;
    let title;
    if (pass.mark === "pending") {
      text = "comparing…";
      title = "Differs from the unedited model's value; how much is computed for the layer shown";
      this.badge.dataset.delta = "pending";
    } else if (pass.mark === "checking") {
      text = "checking…";
      title = "Being compared with the engine's values (Model.run) for this prompt, right after the run";
      this.badge.dataset.delta = "checking";
    } else if (pass.mark === "engine") {
      text = "= engine";
      title = "No edit reaches this cell and its value equals the engine's (Model.run) within 1e-5 relative";
      this.badge.dataset.delta = "engine";
    } else if (pass.mark === "unchanged") {
      text = "unchanged";
      title = "After an edit, and still equal to the unedited model's value (within 1e-5 relative)";
      this.badge.dataset.delta = "unchanged";
    } else if (pass.mark === "differs") {
      const relative = pass.relative === null ? "" : ` (${formatValue(pass.relative * 100)}% of max)`;
      const bad = nonFinite(pass);
      text = `Δ max ${formatValue(pass.max_abs)}${relative}${bad ? ` · ${bad}` : ""}`;
      title = pass.pristine
        ? "No edit reaches this cell, yet it differs from the engine: a bug in the cells or the engine"
        : `Largest |value − unedited value| ${pass.max_abs}${bad ? `; the edit brought in ${bad}` : ""}`;
      this.badge.dataset.delta = String(pass.max_abs);
      if (pass.pristine) text = `differs from the engine! ${text}`;
    } else if (pass.mark === "shape") {
      text = `shape changed: ${shapeText(pass.shape[0])} → ${shapeText(pass.shape[1])}`;
      title = "The edit changed this value's shape: no element-wise difference";
      this.badge.dataset.delta = "shape";
    } else {
      text = pass.text || "not comparable";
      title = "";
      this.badge.dataset.delta = "other";
    }
    this.badge.textContent = text + where;
    this.badge.title = title;
  }
}

export class PredictionChange {
  constructor() {
    this.node = el("div", { class: "nb-prediction-change", testid: "prediction-change", "aria-live": "polite", hidden: true });
  }

  /** change: {top: [{id, text, before, after}], old_top: {id, text, before, after, rank_after}, changed} or null. */
  show(change) {
    this.node.hidden = !change;
    if (!change) return this.node.replaceChildren();
    const old = change.old_top;
    const before = el("span", { testid: "prediction-before", text:
      `${JSON.stringify(showToken(old.text))} ${formatValue(old.before)} → ${formatValue(old.after)}` +
      (old.rank_after === 1 ? " (still first)" : ` (now #${old.rank_after})`) });
    Object.assign(before.dataset, { tokenId: String(old.id), before: String(old.before), after: String(old.after),
      rankAfter: String(old.rank_after) });
    this.node.dataset.changed = String(change.changed);
    const rows = change.top.map((token) => {
      const row = el("tr", { testid: "prediction-top-row" },
        el("td", { text: showToken(token.text) }), el("td", { class: "num", text: formatValue(token.before) }),
        el("td", { class: "num", text: "→" }), el("td", { class: "num", text: formatValue(token.after) }));
      Object.assign(row.dataset, { tokenId: String(token.id), before: String(token.before), after: String(token.after) });
      return row;
    });
    const table = el("table", { class: "cells-table", testid: "prediction-top" },
      el("thead", {}, el("tr", {}, el("th", { text: "next token" }), el("th", { text: "before" }), el("th"),
        el("th", { text: "after" }))),
      el("tbody", {}, ...rows));
    const lead = change.changed ? "Your edits changed the prediction. The unedited top token: "
      : "The prediction equals the unedited model's: ";
    this.node.replaceChildren(el("span", { text: lead }), before, table);
  }
}
