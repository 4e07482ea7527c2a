// The notebook: GPT-2's inference steps as editable Python cells whose outputs are tables.
//
//   const notebook = mountNotebook(document.getElementById("notebook"), runtime, { modelStatus });
//
// Python owns the cells' semantics (gpt2cells.notebook_session: which cells a run touches, their status,
// outputs); this module shows them. Every Python call goes through the worker, so the page never freezes;
// Stop restarts the worker and the models panel reloads the stored model, after which the notebook reopens
// with the same code. Edits are kept per model in localStorage.

import { createEditor } from "./editor.js";
import { Grid, showToken, formatValue } from "./grid.js";
import { renderTable } from "./table.js";

const SESSION = "gpt2cells.notebook_session";
const STORAGE_PREFIX = "gpt2cells.notebook.v1:";
const SAVE_DELAY_MS = 250;
// Generate asks Python for this long a stretch of tokens per call, each streamed to the page as it is chosen:
// fewer worker round trips than one call per token, and Stop still lands within about this long.
const GENERATE_STRETCH_SECONDS = 0.2;

function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (key === "class") node.className = value;
    else if (key === "testid") node.dataset.testid = value;
    else if (value === true) node.setAttribute(key, "");
    else if (value !== false && value != null) node.setAttribute(key, value);
  }
  node.append(...children.filter((child) => child !== null && child !== undefined));
  return node;
}

/** A Python string literal for text (JSON's escapes are all valid in Python). */
function pythonString(text) {
  return JSON.stringify(text);
}

/** The prompt text when a prompt cell is the plain `prompt = "..."`, else null. */
function promptFromSource(source) {
  const match = /^\s*prompt\s*=\s*("(?:[^"\\\n]|\\.)*")\s*(#.*)?$/m.exec(source);
  if (!match || source.trim().split("\n").filter((line) => line.trim() && !line.trim().startsWith("#")).length !== 1) {
    return null;
  }
  try { return JSON.parse(match[1]); } catch { return null; }
}

function floatsFrom(bytes) {
  const copy = bytes.slice(); // own, aligned buffer
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}

function download(text, fileName, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el("a", { href: url, download: fileName });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function formatDuration(ms) {
  if (ms === null || ms === undefined) return "";
  if (ms < 1) return "<1 ms";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return `${(ms / 1000).toFixed(2)} s`;
}

function describeShape(shape, output) {
  const parts = shape.map((n, axis) => {
    if (output.heads && axis === 0) return `${n} heads`;
    return String(n);
  });
  return `[${parts.join(" × ")}]`;
}

export class Notebook {
  constructor(root, runtime, { modelStatus } = {}) {
    this.root = root;
    this.runtime = runtime;
    this.modelStatus = modelStatus;
    this.cells = new Map(); // id -> view {state, node, editor, ...}
    this.order = [];
    this.groups = [];
    this.layer = 0;
    this.head = 0;
    this.modelKey = null;
    this.open = false;
    this.chain = Promise.resolve();
    this.busy = 0;
    this.generating = null;
    this.saveTimer = 0;
    this.showMessage("The notebook appears when a model is loaded into Python.");
    runtime.addEventListener("restart", () => this.onRestart());
    this.watchModelStatus();
  }

  // ---------------------------------------------------------------- model lifecycle

  /** The models panel marks its status line data-state="ready" when a model is in Python. */
  watchModelStatus() {
    const check = () => {
      const status = this.modelStatus?.();
      const state = status?.dataset.state;
      const idle = !this.busy && !this.pendingJobs;
      // another model became ready while a run kept this notebook open: open it for the new one
      if (state === "ready" && this.open && idle && status.textContent !== this.openedFor) this.close("");
      if (state === "ready" && !this.open) {
        if (this.opening) this.recheck = true; // a model may have arrived while we were asking
        else this.openForModel();
      }
      else if (state !== "ready" && this.open && idle) this.close("The notebook appears when a model is loaded into Python.");
      if (status && status !== this.observed) {
        this.observer?.disconnect();
        this.observer = new MutationObserver(check);
        this.observer.observe(status, { attributes: true, attributeFilter: ["data-state"] });
        this.observed = status;
      }
    };
    this.checkModel = check;
    check();
    if (!this.observed) {
      const poll = setInterval(() => { check(); if (this.observed) clearInterval(poll); }, 200);
    }
  }

  async openForModel({ autoRun = true } = {}) {
    this.opening = true;
    try {
      this.openedFor = this.modelStatus?.()?.textContent;
      const { value: info } = await this.runtime.call("gpt2cells.worker_api.loaded");
      if (!info) return;
      this.modelInfo = info;
      this.modelKey = `${info.name}|${JSON.stringify(info.config)}`;
      const saved = this.loadSaved();
      const { value: opened } = await this.runtime.call(`${SESSION}.open`, [saved.sources || {}]);
      this.build(opened);
      this.open = true;
      this.root.dataset.open = "true";
      this.openCount = (this.openCount || 0) + 1;
      this.root.dataset.opened = String(this.openCount);
      this.updateButtons();
      const edited = Object.keys(saved.sources || {}).length > 0;
      if (autoRun && !this.suppressAutoRun && !edited) this.runAll();
      else this.setRunState("", this.suppressAutoRun ? "Python was restarted; your code is kept. Press Run all." : "Your edited code is restored. Press Run all.");
      this.suppressAutoRun = false;
    } catch (error) {
      if (error.pythonType !== "RuntimeRestarted") this.showMessage(`The notebook could not open: ${error.message}`, error.traceback);
    } finally {
      this.opening = false;
      if (this.recheck) {
        this.recheck = false;
        if (!this.open) setTimeout(() => this.checkModel(), 0);
      }
    }
  }

  onRestart() {
    // The worker is gone with every Python object; the panel reloads the model and we reopen after it.
    this.suppressAutoRun = true;
    this.stopGenerating();
    if (this.open) {
      for (const view of this.cells.values()) {
        if (view.state.status === "running") this.setInterrupted(view);
        else if (view.state.status === "queued" || view.state.status === "ok") this.setStatus(view, "idle");
      }
    }
    this.open = false;
    this.root.dataset.open = "false";
    this.setRunState("", "Python restarted: reloading the model from storage…");
    this.updateButtons();
    setTimeout(() => this.checkModel(), 0);
  }

  close(message) {
    this.open = false;
    this.root.dataset.open = "false";
    this.showMessage(message);
  }

  showMessage(text, detail) {
    for (const view of this.cells.values()) view.grids?.forEach((grid) => grid.destroy());
    this.cells.clear();
    this.root.replaceChildren(el("p", { class: "nb-message", testid: "notebook-message", text }),
      detail ? el("pre", { class: "traceback", text: detail }) : null);
  }

  storageKey() {
    return STORAGE_PREFIX + this.modelKey;
  }

  loadSaved() {
    try {
      return JSON.parse(localStorage.getItem(this.storageKey()) || "{}");
    } catch {
      return {};
    }
  }

  scheduleSave() {
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => this.saveNow(), SAVE_DELAY_MS);
  }

  saveNow() {
    clearTimeout(this.saveTimer);
    if (!this.modelKey) return;
    const sources = {};
    for (const [id, view] of this.cells) {
      const text = view.editor.getValue();
      if (text !== view.state.default_source) sources[id] = text;
    }
    try {
      if (Object.keys(sources).length) localStorage.setItem(this.storageKey(), JSON.stringify({ sources }));
      else localStorage.removeItem(this.storageKey());
    } catch (error) {
      this.setRunState("failed", `Could not save your edits in this browser: ${error.message}`);
    }
  }

  // ---------------------------------------------------------------- building the page

  build(opened) {
    for (const view of this.cells.values()) view.grids?.forEach((grid) => grid.destroy());
    this.cells.clear();
    this.order = opened.cells.map((cell) => cell.id);
    this.groups = opened.groups;
    this.model = opened.model;
    this.layer = Math.min(this.layer, Math.max(0, this.model.n_layer - 1));
    this.head = Math.min(this.head, Math.max(0, this.model.n_head - 1));
    this.root.replaceChildren(this.buildToolbar());
    let groupBox = null;
    let number = 0;
    for (const state of opened.cells) {
      number += 1;
      const view = this.buildCell(state, number);
      this.cells.set(state.id, view);
      if (state.group) {
        if (!groupBox || groupBox.dataset.group !== state.group) {
          groupBox = this.buildGroup(this.groups.find((g) => g.id === state.group));
          this.root.append(groupBox);
        }
        groupBox.append(view.node);
      } else {
        groupBox = null;
        this.root.append(view.node);
      }
      this.applyState(view, state);
    }
    this.showPrediction(opened.prediction);
    this.syncPromptInput();
    this.updateButtons();
    requestAnimationFrame(() => {
      this.root.style.setProperty("--toolbar-height", `${this.toolbar.offsetHeight + 4}px`);
    });
  }

  buildToolbar() {
    this.promptInput = el("input", { class: "nb-prompt", type: "text", testid: "prompt", spellcheck: "false",
      "aria-label": "Prompt", placeholder: "Type a prompt and press Enter" });
    this.promptInput.addEventListener("keydown", (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        this.setPrompt(this.promptInput.value, { run: true });
      }
    });
    this.promptInput.addEventListener("change", () => this.setPrompt(this.promptInput.value, { run: false }));
    this.runAllButton = el("button", { type: "button", testid: "run-all", text: "Run all" });
    this.runAllButton.addEventListener("click", () => this.runAll());
    this.stopButton = el("button", { type: "button", class: "danger", testid: "interrupt", text: "Stop",
      title: "Interrupt Python (restarts the worker; the model reloads from storage)" });
    this.stopButton.addEventListener("click", () => this.interrupt());
    this.exportPy = el("button", { type: "button", class: "secondary", testid: "export-py", text: "Export .py" });
    this.exportPy.addEventListener("click", () => this.exportNotebook("py"));
    this.exportIpynb = el("button", { type: "button", class: "secondary", testid: "export-ipynb", text: "Export .ipynb" });
    this.exportIpynb.addEventListener("click", () => this.exportNotebook("ipynb"));
    this.importInput = el("input", { type: "file", accept: ".py,.ipynb", class: "visually-hidden", testid: "import-file",
      "aria-label": "Import a notebook (.py or .ipynb)" });
    this.importInput.addEventListener("change", () => {
      const file = this.importInput.files?.[0];
      this.importInput.value = "";
      if (file) this.importNotebook(file);
    });
    this.importButton = el("button", { type: "button", class: "secondary", testid: "import", text: "Import…" });
    this.importButton.addEventListener("click", () => this.importInput.click());
    this.runState = el("span", { class: "nb-run-state", testid: "run-state", role: "status", "aria-live": "polite" });
    this.prediction = el("div", { class: "nb-prediction", testid: "prediction", "aria-live": "polite" });
    this.toolbar = el("div", { class: "nb-toolbar", role: "toolbar", "aria-label": "Notebook" },
      el("div", { class: "nb-toolbar-row" },
        el("label", { for: "nb-prompt-input", text: "Prompt" }), this.promptInput, this.runAllButton, this.stopButton),
      el("div", { class: "nb-toolbar-row" },
        this.prediction, this.runState, el("span", { class: "nb-spacer" }),
        this.exportPy, this.exportIpynb, this.importButton, this.importInput));
    this.promptInput.id = "nb-prompt-input";
    return this.toolbar;
  }

  buildGroup(group) {
    const layerSelect = el("select", { testid: "layer-select", "aria-label": "Layer shown" });
    for (let i = 0; i < this.model.n_layer; i++) layerSelect.append(el("option", { value: String(i), text: `layer ${i}` }));
    layerSelect.value = String(this.layer);
    layerSelect.addEventListener("change", () => this.selectView(Number(layerSelect.value), this.head));
    const headSelect = el("select", { testid: "head-select", "aria-label": "Attention head shown" });
    for (let i = 0; i < this.model.n_head; i++) headSelect.append(el("option", { value: String(i), text: `head ${i}` }));
    headSelect.value = String(this.head);
    headSelect.addEventListener("change", () => this.selectView(this.layer, Number(headSelect.value)));
    this.layerSelects = [...(this.layerSelects || []).filter((s) => s.isConnected), layerSelect];
    this.headSelects = [...(this.headSelects || []).filter((s) => s.isConnected), headSelect];
    const box = el("div", { class: "nb-group", testid: `group-${group.id}`, role: "group", "aria-label": group.title },
      el("div", { class: "nb-group-head" },
        el("h3", { text: group.title }),
        el("label", {}, "show ", layerSelect),
        el("label", {}, "attention ", headSelect)),
      el("p", { class: "nb-group-doc", text: group.doc }));
    box.dataset.group = group.id;
    return box;
  }

  buildCell(state, number) {
    const node = el("section", { class: "nb-cell", testid: `cell-${state.id}`, "aria-label": state.title });
    node.dataset.cell = state.id;
    const status = el("span", { class: "nb-status", testid: "cell-status" });
    const edited = el("span", { class: "nb-edited", testid: "cell-edited", text: "edited", hidden: true });
    const runButton = el("button", { type: "button", testid: "run-cell", text: "Run", title: "Run this cell and every cell that depends on it (Ctrl/Cmd+Enter)" });
    const runToButton = el("button", { type: "button", testid: "run-to", text: "Run to here", title: "Run every cell up to this one that is not up to date" });
    const resetButton = el("button", { type: "button", testid: "reset-cell", text: "Reset", title: "Put back this cell's original code" });
    const head = el("div", { class: "nb-cell-head" },
      el("span", { class: "nb-step-no", text: String(number) }),
      el("h3", { text: state.title }),
      edited, status, runButton, runToButton, resetButton);
    const doc = el("p", { class: "nb-cell-doc", text: state.doc || "" });
    const editorHost = el("div", { class: "nb-editor", testid: "editor" });
    const output = el("div", { class: "nb-output", testid: "output" });
    node.append(head, doc, editorHost);
    const view = { id: state.id, state, node, status, edited, output, grids: [], ran: state.source };
    if (state.id === "generation") node.append(this.buildGenerateControls(view));
    node.append(output);
    view.editor = createEditor(editorHost, {
      doc: state.source,
      label: `${state.title}: Python code`,
      onRun: () => this.runCell(state.id),
      onRunAndMove: () => { this.runCell(state.id); this.focusNext(state.id); },
      onChange: (text) => this.onEdit(view, text),
    });
    editorHost.editor = view.editor; // for tests and the console: the cell's code without reaching into CodeMirror
    node.addEventListener("focusin", () => node.classList.add("focused"));
    node.addEventListener("focusout", () => node.classList.remove("focused"));
    runButton.addEventListener("click", () => this.runCell(state.id));
    runToButton.addEventListener("click", () => this.runTo(state.id));
    resetButton.addEventListener("click", () => this.resetCell(state.id));
    view.buttons = [runButton, runToButton, resetButton];
    return view;
  }

  buildGenerateControls(view) {
    const field = (label, testid, attributes) => {
      const input = el("input", { testid, ...attributes });
      return [input, el("label", {}, label, input)];
    };
    const [n, nLabel] = field("tokens", "gen-n", { type: "number", min: "1", max: "1024", value: "20" });
    const [temperature, tLabel] = field("temperature", "gen-temperature", { type: "number", min: "0", step: "0.1", value: "0.8" });
    const [topK, kLabel] = field("top-k (0 = off)", "gen-top-k", { type: "number", min: "0", value: "40" });
    const [topP, pLabel] = field("top-p (1 = off)", "gen-top-p", { type: "number", min: "0", max: "1", step: "0.05", value: "0.95" });
    const [seed, sLabel] = field("seed (empty = random)", "gen-seed", { type: "number", value: "0" });
    const generate = el("button", { type: "button", testid: "generate", text: "Generate" });
    const stop = el("button", { type: "button", class: "danger", testid: "stop-generate", text: "Stop", disabled: true });
    const state = el("span", { class: "nb-gen-state", testid: "generate-state", role: "status" });
    const text = el("div", { class: "nb-generated", testid: "generated-text", "aria-live": "polite" });
    generate.addEventListener("click", () => this.generate());
    stop.addEventListener("click", () => this.stopGenerating());
    this.gen = { n, temperature, topK, topP, seed, generate, stop, state, text };
    return el("div", {},
      el("div", { class: "nb-generate", role: "group", "aria-label": "Generation settings" },
        nLabel, tLabel, kLabel, pLabel, sLabel, generate, stop, state),
      text);
  }

  // ---------------------------------------------------------------- cell state → DOM

  applyState(view, state) {
    view.state = state;
    view.node.dataset.runs = String(state.runs ?? 0);
    view.ran = state.source;
    this.setStatus(view, state.status, state);
    view.edited.hidden = view.editor.getValue() === state.default_source;
    view.editor.markErrorLine(state.status === "failed" && state.error ? state.error.line : 0);
    // a run reports each cell as it finishes and again at the end: draw (and fetch) its tables once
    const outputKey = JSON.stringify([state.status, state.stdout, state.error, state.output]);
    if (outputKey !== view.outputKey) {
      view.outputKey = outputKey;
      this.renderOutput(view);
    }
  }

  setStatus(view, status, state = view.state) {
    view.state = { ...state, status };
    view.node.dataset.status = status;
    const texts = {
      ok: `✓ ${formatDuration(state.duration_ms)}`,
      failed: "✗ failed",
      stale: "stale — needs a rerun",
      idle: "not run",
      queued: "queued",
      running: state.progress || "running…",
      interrupted: "interrupted",
    };
    view.status.textContent = texts[status] ?? status;
    view.status.title = status === "ok" ? `ran in ${formatDuration(state.duration_ms)}` : "";
  }

  setInterrupted(view) {
    view.state = { ...view.state, status: "failed", error: { traceback: "Interrupted: Python was restarted to stop this cell.", line: null } };
    this.setStatus(view, "failed");
    view.output.replaceChildren(el("pre", { class: "traceback", testid: "cell-traceback", text: view.state.error.traceback }));
    view.outputKey = null;
  }

  renderOutput(view) {
    const { state } = view;
    view.grids.forEach((grid) => grid.destroy());
    view.grids = [];
    view.layerViews = [];
    const parts = [];
    if (state.stdout) parts.push(el("pre", { class: "cell-stream", testid: "cell-stdout", text: state.stdout }));
    if (state.status === "failed" && state.error) {
      parts.push(el("pre", { class: "traceback", testid: "cell-traceback", text: state.error.traceback }));
    } else if (state.output && state.status !== "idle") {
      parts.push(this.renderValue(view, state.output, ""));
    }
    if (state.status === "stale") {
      parts.unshift(el("p", { class: "nb-cell-doc", testid: "stale-note",
        text: "An earlier cell changed or failed: this output is out of date." }));
    }
    view.output.replaceChildren(...parts);
  }

  renderValue(view, output, path) {
    switch (output.kind) {
      case "array": return this.renderArray(view, output, path);
      case "table": {
        const box = el("div", { class: "nb-table", testid: "table" });
        box.append(renderTable(output, { caption: output.title || undefined }));
        return box;
      }
      case "tabs": return this.renderTabs(view, output, path);
      case "text": return el("pre", { class: "nb-value", testid: "value", text: output.text });
      case "layers": return this.renderLayers(view, output, path);
      default: return el("span");
    }
  }

  /** Per-layer outputs that are not arrays of one shape: show the selected layer's. */
  renderLayers(view, output, path) {
    const box = el("div", { class: "nb-layers" });
    box.refreshLayer = () => {
      const index = Math.min(this.layer, output.items.length - 1);
      const item = output.items[index];
      box.replaceChildren(el("div", { class: "nb-output-bar" }, el("span", { class: "nb-where", text: `showing layer ${index}` })),
        item ? this.renderValue(view, item, [path, String(index)].filter(Boolean).join("/")) : el("span", { text: "no output for this layer" }));
    };
    box.refreshLayer();
    view.layerViews = [...(view.layerViews || []), box];
    return box;
  }

  renderTabs(view, output, path) {
    const box = el("div", { class: "nb-tabbed" });
    const bar = el("span", { class: "nb-tabs", role: "group", "aria-label": "Outputs" });
    const body = el("div");
    const show = (index) => {
      view.tab = index;
      [...bar.children].forEach((button, i) => button.setAttribute("aria-pressed", String(i === index)));
      const item = output.items[index];
      for (const grid of view.grids) grid.destroy();
      view.grids = [];
      body.replaceChildren(this.renderValue(view, item.output, [path, item.name].filter(Boolean).join("/")));
    };
    output.items.forEach((item, index) => {
      const button = el("button", { type: "button", testid: `tab-${item.name}`, text: item.name });
      button.addEventListener("click", () => show(index));
      bar.append(button);
    });
    box.append(el("div", { class: "nb-output-bar" }, el("span", { text: "show" }), bar), body);
    show(Math.min(view.tab || 0, output.items.length - 1));
    return box;
  }

  renderArray(view, output, path) {
    const box = el("div", { class: "nb-array" });
    const shape = el("span", { class: "nb-shape", testid: "shape", text: describeShape(output.shape, output) });
    const where = el("span", { class: "nb-where", testid: "view-of" });
    const bar = el("div", { class: "nb-output-bar" }, shape, where);
    if (output.name) bar.prepend(el("code", { text: output.name }));
    const host = el("div");
    box.append(bar, host);
    const layer = () => (output.layered ? this.layer : 0);
    const head = () => (output.heads ? Math.min(this.head, output.heads - 1) : 0);
    const options = () => {
      const scale = output.scales[layer()] ?? { kind: "diverging", span: 1 };
      const parts = [];
      if (output.layered) parts.push(`layer ${layer()}`);
      if (output.heads) parts.push(`head ${head()}`);
      where.textContent = parts.length ? `showing ${parts.join(", ")}` : "";
      return {
        rows: output.rows,
        cols: output.cols,
        rowLabels: output.row_labels || null,
        colLabel: output.col_labels ? (c) => showToken(output.col_labels[c]) : null,
        scale,
        fetch: (r0, r1, c0, c1) => this.fetchSlice(view.id, path, layer(), head(), r0, r1, c0, c1),
        describe: output.col_kind === "vocab" ? ({ col }) => this.tokenText(col) : null,
      };
    };
    const grid = new Grid(host, options());
    grid.refresh = () => grid.setData(options());
    grid.output = output;
    view.grids.push(grid);
    if (output.focus) requestAnimationFrame(() => grid.scrollTo(output.focus[0], output.focus[1]));
    return box;
  }

  async fetchSlice(cellId, path, layer, head, r0, r1, c0, c1) {
    const { value } = await this.runtime.call(`${SESSION}.output_slice`, [cellId, path, layer, head, r0, r1, c0, c1]);
    return floatsFrom(value);
  }

  async tokenText(id) {
    const { value } = await this.runtime.call(`${SESSION}.token_text`, [id]);
    return `token ${JSON.stringify(value)}`;
  }

  selectView(layer, head) {
    this.layer = layer;
    this.head = head;
    for (const select of this.layerSelects || []) select.value = String(layer);
    for (const select of this.headSelects || []) select.value = String(head);
    for (const view of this.cells.values()) {
      for (const grid of view.grids) {
        if (grid.output.layered || grid.output.heads) grid.refresh();
      }
      for (const box of view.layerViews || []) if (box.isConnected) box.refreshLayer();
    }
  }

  showPrediction(prediction) {
    if (!this.prediction) return;
    if (!prediction) {
      this.prediction.textContent = "Next token: run the notebook to see the prediction.";
      delete this.prediction.dataset.tokenId;
      return;
    }
    this.prediction.replaceChildren(
      "Next token: ", el("strong", { testid: "prediction-text", text: showToken(prediction.text) }),
      ` id ${prediction.id}`, prediction.prob !== null && prediction.prob !== undefined
        ? ` · probability ${formatValue(prediction.prob)}` : "");
    this.prediction.dataset.tokenId = String(prediction.id);
    this.prediction.dataset.tokenText = prediction.text;
  }

  setRunState(state, text) {
    if (!this.runState) return;
    this.runState.dataset.state = state;
    this.runState.textContent = text;
  }

  updateButtons() {
    if (!this.runAllButton) return;
    this.runAllButton.disabled = !this.open;
    this.stopButton.disabled = !(this.busy || this.generating);
    if (this.gen) {
      this.gen.generate.disabled = !this.open || Boolean(this.generating);
      this.gen.stop.disabled = !this.generating;
    }
  }

  // ---------------------------------------------------------------- editing

  onEdit(view, text) {
    view.edited.hidden = text === view.state.default_source;
    view.node.dataset.dirty = String(text !== view.ran);
    if (view.id === "prompt") this.syncPromptInput();
    this.scheduleSave();
  }

  syncPromptInput() {
    const view = this.cells.get("prompt");
    if (!view || !this.promptInput) return;
    const text = promptFromSource(view.editor.getValue());
    this.promptInput.disabled = text === null;
    this.promptInput.title = text === null ? "The prompt cell is not a plain prompt = \"…\" line; edit it below." : "";
    if (text !== null && document.activeElement !== this.promptInput) this.promptInput.value = text;
  }

  setPrompt(text, { run }) {
    const view = this.cells.get("prompt");
    if (!view) return;
    const current = promptFromSource(view.editor.getValue());
    if (current !== text) {
      const source = view.editor.getValue();
      const replaced = source.replace(/^(\s*prompt\s*=\s*)("(?:[^"\\\n]|\\.)*")/m, (_, lead) => lead + pythonString(text));
      view.editor.setValue(replaced);
    }
    if (run && (current !== text || view.state.status !== "ok")) this.runCell("prompt");
    else if (run) this.runAll();
  }

  focusNext(id) {
    const index = this.order.indexOf(id);
    const next = this.cells.get(this.order[index + 1]);
    if (next) {
      next.editor.focus();
      next.node.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  resetCell(id) {
    const view = this.cells.get(id);
    view.editor.setValue(view.state.default_source);
    this.saveNow();
    this.runCell(id);
  }

  sources() {
    const sources = {};
    for (const [id, view] of this.cells) sources[id] = view.editor.getValue();
    return sources;
  }

  // ---------------------------------------------------------------- running

  runAll() { return this.run("all", null); }
  runCell(id) { return this.run("cell", id); }
  runTo(id) { return this.run("to", id); }

  run(mode, id) {
    this.saveNow();
    return this.enqueue(() => this.execute(mode, id));
  }

  /** Jobs run one after another (Python is single-threaded); data-busy covers queued ones too. */
  enqueue(task) {
    this.pendingJobs = (this.pendingJobs || 0) + 1;
    this.root.dataset.busy = "true";
    const job = this.chain.then(task).finally(() => {
      this.pendingJobs -= 1;
      this.completedRuns = (this.completedRuns || 0) + 1;
      this.root.dataset.completedRuns = String(this.completedRuns);
      this.root.dataset.busy = String(this.pendingJobs > 0);
      this.checkModel?.(); // the model may have changed while this job ran
    });
    this.chain = job.catch(() => {});
    return job;
  }

  async execute(mode, id) {
    if (!this.open) return;
    this.busy += 1;
    this.updateButtons();
    const started = performance.now();
    this.setRunState("running", "running…");
    try {
      const { value: result } = await this.runtime.call(`${SESSION}.run`, [mode, id, this.sources()], {},
        { onProgress: (message) => this.onProgress(message) });
      for (const state of result.cells) {
        const view = this.cells.get(state.id);
        if (view) this.applyState(view, state);
      }
      this.showPrediction(result.prediction);
      const failed = result.cells.filter((c) => c.status === "failed").length;
      const ran = result.ran.length;
      this.setRunState(failed ? "failed" : "ok", `${ran} cell${ran === 1 ? "" : "s"} ran in ${formatDuration(performance.now() - started)}` +
        (failed ? ` · ${failed} failed` : ""));
    } catch (error) {
      if (error.pythonType === "RuntimeRestarted") return; // onRestart has updated the page
      this.setRunState("failed", `The notebook could not run: ${error.message}`);
      console.error(error);
    } finally {
      this.busy -= 1;
      this.updateButtons();
    }
  }

  onProgress(message) {
    if (message.event === "plan") {
      for (const id of message.cells) {
        const view = this.cells.get(id);
        if (view) this.setStatus(view, "queued");
      }
    } else if (message.event === "start") {
      for (const id of message.cells) {
        const view = this.cells.get(id);
        if (view) this.setStatus(view, "running", { ...view.state, progress: message.label || "running…" });
      }
      this.setRunState("running", message.label ? `running ${message.label}` : "running…");
    } else if (message.event === "done") {
      for (const state of message.states) {
        const view = this.cells.get(state.id);
        if (view) this.applyState(view, state);
      }
    }
  }

  interrupt() {
    this.setRunState("failed", "Stopping: restarting Python…");
    this.runtime.restart();
  }

  // ---------------------------------------------------------------- generation

  readSettings() {
    const number = (input, fallback) => (input.value.trim() === "" ? fallback : Number(input.value));
    const topK = number(this.gen.topK, 0);
    const topP = number(this.gen.topP, 1);
    return {
      max_new_tokens: Math.max(1, Math.floor(number(this.gen.n, 20))),
      temperature: number(this.gen.temperature, 1),
      top_k: topK > 0 ? Math.floor(topK) : null,
      top_p: topP < 1 ? topP : null,
      seed: this.gen.seed.value.trim() === "" ? null : Math.floor(Number(this.gen.seed.value)),
    };
  }

  generate() {
    if (this.generating || !this.open) return;
    const token = { stopped: false };
    this.generating = token;
    this.gen.state.dataset.state = "running";  // until "done" or "failed": a second run must not look finished
    this.gen.state.textContent = "waiting…";
    this.updateButtons();
    return this.enqueue(() => this.runGeneration(token));
  }

  async runGeneration(token) {
    const { gen } = this;
    const view = this.cells.get("generation");
    const call = (fn, args = [], options = {}) => this.runtime.call(`${SESSION}.${fn}`, args, {}, options);
    try {
      if (view.state.status !== "ok" || view.editor.getValue() !== view.ran) {
        gen.state.textContent = "running the cells first…";
        await this.execute("to", "generation");
        if (this.cells.get("generation").state.status !== "ok") {
          gen.state.textContent = "the generation cell must run without errors first";
          gen.state.dataset.state = "failed";
          return;
        }
      }
      const settings = this.readSettings();
      const { value: begun } = await call("generate_begin", [settings]);
      gen.text.replaceChildren(el("span", { class: "prompt-part", text: begun.prompt_text }));
      delete gen.text.dataset.ids;
      if (begun.max_new_tokens < settings.max_new_tokens) {
        gen.state.textContent = `${begun.max_new_tokens} tokens fit in the context window`;
      }
      const started = performance.now();
      let count = 0;
      const show = (step) => {
        count += 1;
        gen.text.append(el("span", { class: "new-token", title: `id ${step.id}`, text: step.text }));
        gen.text.dataset.ids = [...(gen.text.dataset.ids ? gen.text.dataset.ids.split(",") : []), step.id].join(",");
        const seconds = (performance.now() - started) / 1000;
        gen.state.textContent = `${count} token${count === 1 ? "" : "s"} · ${(count / seconds).toFixed(1)} tokens/s`;
      };
      while (!token.stopped) {
        const { value: stretch } = await call("generate_for", [GENERATE_STRETCH_SECONDS], { onProgress: show });
        if (stretch.done) break;
      }
      const { value: finished } = await call("generate_end");
      if (finished.text !== undefined) gen.text.dataset.text = finished.text;
      if (finished.state && this.cells.get(finished.state.id)) this.applyState(this.cells.get(finished.state.id), finished.state);
      gen.state.textContent += token.stopped ? " · stopped" : " · done";
      gen.state.dataset.state = "done";
    } catch (error) {
      if (error.pythonType !== "RuntimeRestarted") gen.state.textContent = `generation failed: ${error.message}`;
      gen.state.dataset.state = "failed";
    } finally {
      if (this.generating === token) this.generating = null;
      this.updateButtons();
    }
  }

  stopGenerating() {
    if (this.generating) this.generating.stopped = true;
  }

  // ---------------------------------------------------------------- export / import

  async exportNotebook(format) {
    try {
      const { value: text } = await this.runtime.call(`${SESSION}.export_notebook`, [format, this.sources()]);
      const slug = (this.modelInfo?.name || "notebook").replace(/[^\w.-]+/g, "-");
      download(text, `gpt2cells-${slug}.${format}`, format === "py" ? "text/x-python" : "application/x-ipynb+json");
      this.setRunState("ok", `exported ${format === "py" ? ".py" : ".ipynb"}`);
    } catch (error) {
      this.setRunState("failed", `export failed: ${error.message}`);
    }
  }

  async importNotebook(file) {
    try {
      const text = await file.text();
      const { value: imported } = await this.runtime.call(`${SESSION}.import_notebook`, [text, file.name]);
      for (const [id, source] of Object.entries(imported.sources)) this.cells.get(id)?.editor.setValue(source);
      this.saveNow();
      this.setRunState("ok", `imported ${file.name}: ${Object.keys(imported.sources).length} cells` +
        (imported.skipped ? ` (${imported.skipped} not matched to a step)` : ""));
      await this.runAll();
    } catch (error) {
      this.setRunState("failed", `import failed: ${error.message}`);
    }
  }
}

export function mountNotebook(root, runtime, options) {
  return new Notebook(root, runtime, options);
}
