// One notebook cell on the page: its head (title, status, Run / Run to here / Reset), doc, code editor and
// output. Python's cell state ({id, title, doc, source, default_source, status, duration_ms, stdout, error,
// output, runs}) drives it; user actions go out through the callbacks.
//
//   const view = new CellView(state, number, outputs, {run, runTo, reset, runAndMove, edited});
//   view.applyState(state);  view.setStatus("queued");  view.editor.getValue();

import { createEditor } from "../editor.js";
import { DeltaBadge } from "./delta-view.js";
import { el, formatDuration } from "./element.js";

const SET_MARK = "  # set in the table";

/** A line of code put before a cell's last line (its shown value): the visible form of a table edit or ablation. */
export function withLineBeforeLast(source, line) {
  const lines = source.split("\n");
  let last = lines.length - 1;
  while (last > 0 && !lines[last].trim()) last -= 1;
  return [...lines.slice(0, last), line, ...lines.slice(last)].join("\n");
}

/** The source without one exact line (its last occurrence); unchanged if the line is not there. */
export function withoutLine(source, line) {
  const lines = source.split("\n");
  const at = lines.lastIndexOf(line);
  return at < 0 ? source : [...lines.slice(0, at), ...lines.slice(at + 1)].join("\n");
}

/** The variable a clicked value belongs to: its tab's name (q, k, v), else the cell's last line when it is a name. */
function variableOf(source, path) {
  const name = /^[A-Za-z_]\w*$/;
  if (path && name.test(path)) return path;
  const last = source.split("\n").map((line) => line.trim()).filter(Boolean).pop() || "";
  return name.test(last) ? last : null;
}

/** [..., row, col] of a grid's value in the array: the head selector unravels over the axes before the last two. */
function indexOf(shape, head, row, col) {
  if (shape.length === 1) return [col];
  const lead = [];
  let rest = head;
  for (const n of shape.slice(0, -2).reverse()) {
    lead.unshift(rest % n);
    rest = Math.floor(rest / n);
  }
  return [...lead, row, col];
}

const STATUS_TEXTS = {
  ok: (state) => `✓ ${formatDuration(state.duration_ms)}`,
  failed: () => "✗ failed",
  stale: () => "stale — needs a rerun",
  idle: () => "not run",
  queued: () => "queued",
  running: (state) => state.progress || "running…",
  interrupted: () => "interrupted",
};

export class CellView {
  constructor(state, number, outputs, actions) {
    this.id = state.id;
    this.state = state;
    this.outputs = outputs;
    this.grids = [];
    this.layerViews = [];
    this.ran = state.source; // the code the state's output came from
    this.node = el("section", { class: "nb-cell", testid: `cell-${state.id}`, "aria-label": state.title });
    this.node.dataset.cell = state.id;
    this.node.tabIndex = -1; // Esc moves the focus from the code to the cell
    this.status = el("span", { class: "nb-status", testid: "cell-status" });
    this.edited = el("span", { class: "nb-edited", testid: "cell-edited", text: "edited", hidden: true });
    this.delta = new DeltaBadge((showing) => {
      this.showing = showing; // output-view.js fetches the output, the engine's value or the difference
      if (showing !== "output" && this.undoValue.hidden) this.valueEdit.hidden = true; // values are set in the output
      this.grids.forEach((grid) => grid.refresh());
    });
    const runButton = el("button", { type: "button", testid: "run-cell", text: "Run", title: "Run this cell and every cell that depends on it (Ctrl/Cmd+Enter)" });
    const runToButton = el("button", { type: "button", testid: "run-to", text: "Run to here", title: "Run every cell up to this one that is not up to date" });
    const resetButton = el("button", { type: "button", testid: "reset-cell", text: "Reset", title: "Put back this cell's original code" });
    const head = el("div", { class: "nb-cell-head" },
      el("span", { class: "nb-step-no", text: String(number) }),
      el("h3", { text: state.title }),
      this.edited, this.status, this.delta.node, runButton, runToButton, resetButton);
    const doc = el("p", { class: "nb-cell-doc", text: state.doc || "" });
    const editorHost = el("div", { class: "nb-editor", testid: "editor" });
    this.output = el("div", { class: "nb-output", testid: "output" });
    this.valueEdit = this.valueEditor(actions);
    this.node.append(head, doc, editorHost, this.valueEdit, this.output);
    this.editor = createEditor(editorHost, {
      doc: state.source,
      label: `${state.title}: Python code`,
      onRun: () => actions.run(this.id),
      onRunAndMove: () => actions.runAndMove(this.id),
      onLeave: () => this.node.focus(), // Esc: the cell keeps the focus, out of its code
      onChange: (text) => {
        this.edited.hidden = text === this.state.default_source;
        this.node.dataset.dirty = String(text !== this.ran);
        actions.edited(this.id, text);
      },
    });
    editorHost.editor = this.editor; // for tests and the console: the cell's code without reaching into CodeMirror
    this.node.addEventListener("focusin", () => this.node.classList.add("focused"));
    this.node.addEventListener("focusout", () => this.node.classList.remove("focused"));
    runButton.addEventListener("click", () => actions.run(this.id));
    runToButton.addEventListener("click", () => actions.runTo(this.id));
    resetButton.addEventListener("click", () => actions.reset(this.id));
    this.onSelection = () => this.refreshDelta();
    this.outputs.selection.addEventListener("change", this.onSelection);
  }

  /** "set activated[3, 17] to [ ]": a value clicked in a grid becomes a visible line of code, then the cell reruns. */
  valueEditor(actions) {
    const target = el("code", { testid: "value-target" });
    const input = el("input", { type: "text", testid: "value-input", size: 10, "aria-label": "New value" });
    const error = el("span", { class: "nb-value-error", testid: "value-error", role: "alert" });
    const undo = el("button", { type: "button", testid: "undo-value", text: "Undo", hidden: true,
      title: "Remove the line this table edit added, and run again" });
    this.undoValue = undo;
    const form = el("form", { class: "nb-value-edit", testid: "value-edit", hidden: true },
      el("span", { text: "set " }), target, el("span", { text: " to " }), input,
      el("button", { type: "submit", text: "Set" }), error, undo);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = input.value.trim();
      if (!this.selected || text === "" || !Number.isFinite(Number(text))) {
        error.textContent = `${JSON.stringify(input.value)} is not a number`;
        input.setAttribute("aria-invalid", "true");
        return;
      }
      error.textContent = "";
      input.removeAttribute("aria-invalid");
      const line = `${this.selected.prefix}${this.selected.target} = ${Number(text)}${SET_MARK}`;
      this.editor.setValue(withLineBeforeLast(this.editor.getValue(), line));
      this.lastSet = line;
      undo.hidden = false;
      actions.run(this.id);
    });
    input.addEventListener("input", () => { error.textContent = ""; input.removeAttribute("aria-invalid"); });
    undo.addEventListener("click", () => {
      if (!this.lastSet) return;
      this.editor.setValue(withoutLine(this.editor.getValue(), this.lastSet));
      this.lastSet = null;
      undo.hidden = true;
      actions.run(this.id);
    });
    this.valueSelected = ({ path, layer, head, row, col, value, shape }) => {
      const variable = variableOf(this.ran, path);
      if (!variable || (this.showing && this.showing !== "output")) {
        this.selected = null;
        form.hidden = undo.hidden; // only the undo stays, for a value that has no variable to set
        return;
      }
      const at = indexOf(shape, head, row, col);
      this.selected = { target: `${variable}[${at.join(", ")}]`, prefix: this.state.group ? `if layer == ${layer}: ` : "" };
      target.textContent = this.selected.prefix + this.selected.target;
      input.value = Number.isFinite(value) ? String(value) : "";
      error.textContent = "";
      form.hidden = false;
    };
    return form;
  }

  refreshDelta() {
    this.delta.update(this.state.delta, this.outputs.selection.layer);
  }

  /** Extra controls between the code and the output (the generation panel). */
  addControls(node) {
    this.output.before(node);
  }

  applyState(state) {
    this.state = state;
    this.node.dataset.runs = String(state.runs ?? 0);
    this.ran = state.source;
    this.setStatus(state.status, state);
    this.edited.hidden = this.editor.getValue() === state.default_source;
    this.editor.markErrorLine(state.status === "failed" && state.error ? state.error.line : 0);
    this.refreshDelta();
    // a run reports each cell as it finishes and again at the end: draw (and fetch) its tables once
    const outputKey = JSON.stringify([state.status, state.stdout, state.error, state.output]);
    if (outputKey !== this.outputKey) {
      this.outputKey = outputKey;
      this.outputs.render(this);
    }
  }

  setStatus(status, state = this.state) {
    this.state = { ...state, status };
    this.node.dataset.status = status;
    this.status.textContent = STATUS_TEXTS[status]?.(state) ?? status;
    this.status.title = status === "ok" ? `ran in ${formatDuration(state.duration_ms)}` : "";
  }

  /** Python was restarted under this running cell. */
  setInterrupted() {
    this.state = { ...this.state, status: "failed", error: { traceback: "Interrupted: Python was restarted to stop this cell.", line: null } };
    this.setStatus("failed");
    this.output.replaceChildren(el("pre", { class: "traceback", testid: "cell-traceback", text: this.state.error.traceback }));
    this.outputKey = null;
  }

  resetCode() {
    this.editor.setValue(this.state.default_source);
  }

  /** Destroy what holds listeners (the output grids). */
  destroy() {
    this.outputs.selection.removeEventListener("change", this.onSelection);
    this.outputs.clear(this);
  }
}
