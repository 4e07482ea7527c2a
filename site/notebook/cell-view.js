// One notebook cell on the page: its head (title, status, Run / Run to here / Reset), doc, code editor and
// output. Python's cell state ({id, title, doc, source, default_source, status, duration_ms, stdout, error,
// output, runs}) drives it; user actions go out through the callbacks.
//
//   const view = new CellView(state, number, outputs, {run, runTo, reset, runAndMove, edited});
//   view.applyState(state);  view.setStatus("queued");  view.editor.getValue();

import { createEditor } from "../editor.js";
import { el, formatDuration } from "./element.js";

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
    const runButton = el("button", { type: "button", testid: "run-cell", text: "Run", title: "Run this cell and every cell that depends on it (Ctrl/Cmd+Enter)" });
    const runToButton = el("button", { type: "button", testid: "run-to", text: "Run to here", title: "Run every cell up to this one that is not up to date" });
    const resetButton = el("button", { type: "button", testid: "reset-cell", text: "Reset", title: "Put back this cell's original code" });
    const head = el("div", { class: "nb-cell-head" },
      el("span", { class: "nb-step-no", text: String(number) }),
      el("h3", { text: state.title }),
      this.edited, this.status, runButton, runToButton, resetButton);
    const doc = el("p", { class: "nb-cell-doc", text: state.doc || "" });
    const editorHost = el("div", { class: "nb-editor", testid: "editor" });
    this.output = el("div", { class: "nb-output", testid: "output" });
    this.node.append(head, doc, editorHost, this.output);
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
    this.outputs.clear(this);
  }
}
