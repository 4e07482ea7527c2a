// The notebook: GPT-2's inference steps as editable Python cells whose outputs are tables.
//
//   const notebook = new Notebook(document.getElementById("notebook"), py);
//   notebook.modelLoaded({serial}); notebook.modelGone(); notebook.runtimeRestarted();   // app.js wires these
//   notebook.addEventListener("interrupt", () => runtime.restart());                    // Stop
//   notebook.addEventListener("cells", (e) => e.detail);  // {cells: [{id, title, group, status, edited}], groups,
//                                                         //  model: {n_layer, …}} whenever one changes
//   notebook.reveal(id); notebook.applySources(sources); notebook.holdAutoRun = true;    // outline.js, share.js
//
// Python owns the cells' semantics (the notebook kernel: which cells a run touches, their status, outputs);
// this module is the shell: it opens the notebook for the model in Python and runs one job at a time. Every
// Python call goes through the worker, so the page never freezes; Stop restarts the worker, the model loads
// again, and the notebook reopens with the same code. Edits are kept per model (saved-edits.js).

import { CellView, withLineBeforeLast, withoutLine } from "./cell-view.js";
import { PredictionChange } from "./delta-view.js";
import { EditsList } from "./edits-list.js";
import { el, formatDuration } from "./element.js";
import { GenerationPanel } from "./generation-panel.js";
import { groupBox, partHeading } from "./group-view.js";
import { exportNotebook, importNotebook } from "./notebook-files.js";
import { OutputView } from "./output-view.js";
import { promptFromSource, withPrompt } from "./prompt-source.js";
import { RunQueue } from "./run-queue.js";
import { SavedEdits } from "./saved-edits.js";
import { Toolbar } from "./toolbar.js";
import { ViewSelection } from "./view-selection.js";

const CHECK_SLICE_SECONDS = 0.2; // a run asked for while a run is being checked waits at most about this long

const NO_MODEL = "The notebook appears when a model is loaded into Python.";

export class Notebook extends EventTarget {
  constructor(root, py) {
    super();
    this.root = root;
    this.py = py;
    this.cells = new Map(); // id -> CellView
    this.order = [];
    this.selection = new ViewSelection();
    this.selection.addEventListener("change", () => {
      for (const view of this.cells.values()) this.outputs.refreshSelection(view);
      this.compareShownLayer();
    });
    // a head clicked in an analysis cell: show its pattern (the block's softmax cell now shows that layer and head)
    this.selection.addEventListener("reveal", () => this.cells.get("softmax")?.node.scrollIntoView({ block: "start" }));
    this.outputs = new OutputView(py, this.selection);
    // what the edits did: the prediction before → after, and the list of edited cells with their resets
    this.predictionChange = new PredictionChange();
    this.editsList = new EditsList({ reset: (id) => this.resetCell(id), resetAll: () => this.resetAll() });
    this.root.addEventListener("ablate-head", (event) => this.toggleAblation(event.detail.layer, event.detail.head));
    this.toolbar = null;
    this.generation = null;
    this.model = null; // the model in Python, as the loader announced it ({serial, ...}), or null
    this.openedFor = null; // serial of the model the open notebook belongs to
    this.open = false;
    this.queue = new RunQueue(root, () => this.sync()); // the model may have changed while a job ran
    this.busy = 0; // runs executing
    this.edits = new SavedEdits(() => this.editedSources(),
      (error) => this.setRunState("failed", `Could not save your edits in this browser: ${error.message}`));
    this.showMessage(NO_MODEL);
  }

  // ---------------------------------------------------------------- model lifecycle

  modelLoaded(model) {
    this.model = model;
    this.sync();
  }

  modelGone() {
    this.model = null;
    this.sync();
  }

  /** Open or close to match the model in Python; a job in progress keeps the notebook as it is until it ends. */
  sync() {
    const idle = !this.busy && this.queue.idle;
    // another model became ready while a run kept this notebook open: open it for the new one
    if (this.model && this.open && idle && this.model.serial !== this.openedFor) this.close("");
    if (this.model && !this.open) {
      if (this.opening) this.recheck = true; // a model may have arrived while we were asking
      else this.openForModel();
    } else if (!this.model && this.open && idle) this.close(NO_MODEL);
  }

  async openForModel({ autoRun = true } = {}) {
    this.opening = true;
    try {
      this.openedFor = this.model.serial;
      const info = await this.py.models.loaded();
      if (!info) return;
      this.modelInfo = info;
      this.edits.forModel(info);
      const saved = this.edits.load();
      this.build(await this.py.notebook.open(saved));
      this.open = true;
      this.root.dataset.open = "true";
      this.openCount = (this.openCount || 0) + 1;
      this.root.dataset.opened = String(this.openCount);
      this.updateButtons();
      const edited = Object.keys(saved).length > 0;
      if (this.holdAutoRun) this.setRunState("", "A shared link is waiting for your answer above; nothing ran.");
      else if (autoRun && !this.suppressAutoRun && !edited) this.runAll();
      else this.setRunState("", this.suppressAutoRun ? "Python was restarted; your code is kept. Press Run all." : "Your edited code is restored. Press Run all.");
      this.suppressAutoRun = false;
    } catch (error) {
      if (error.pythonType !== "RuntimeRestarted") this.showMessage(`The notebook could not open: ${error.message}`, error.traceback);
    } finally {
      this.opening = false;
      if (this.recheck) {
        this.recheck = false;
        if (!this.open) setTimeout(() => this.sync(), 0);
      }
    }
  }

  runtimeRestarted() {
    // The worker is gone with every Python object; the model loads again and we reopen after it.
    this.suppressAutoRun = true;
    this.generation?.stop();
    if (this.open) {
      for (const view of this.cells.values()) {
        if (view.state.status === "running") view.setInterrupted();
        else if (view.state.status === "queued" || view.state.status === "ok") view.setStatus("idle");
      }
    }
    this.open = false;
    this.root.dataset.open = "false";
    this.setRunState("", "Python restarted: reloading the model from storage…");
    this.updateButtons();
    this.announce();
    setTimeout(() => this.sync(), 0);
  }

  close(message) {
    this.open = false;
    this.root.dataset.open = "false";
    this.showMessage(message);
    this.announce();
  }

  showMessage(text, detail) {
    for (const view of this.cells.values()) view.destroy();
    this.cells.clear();
    this.toolbar = null;
    this.generation = null;
    this.root.replaceChildren(el("p", { class: "nb-message", testid: "notebook-message", text }),
      detail ? el("pre", { class: "traceback", text: detail }) : null);
  }

  // ---------------------------------------------------------------- building the page

  build(opened) {
    for (const view of this.cells.values()) view.destroy();
    this.cells.clear();
    this.order = opened.cells.map((cell) => cell.id);
    this.selection.fit(opened.model);
    this.toolbar = new Toolbar({
      setPrompt: (text, options) => this.setPrompt(text, options),
      runAll: () => this.runAll(),
      generate: () => {
        this.cells.get("generation")?.node.scrollIntoView({ block: "start" });
        this.generation?.generate();
      },
      interrupt: () => this.interrupt(),
      exportAs: (format) => this.exportAs(format),
      importFile: (file) => this.importFile(file),
    });
    this.generation = null;
    this.root.replaceChildren(this.toolbar.node, this.predictionChange.node, this.editsList.node);
    const actions = {
      run: (id) => this.runCell(id),
      runTo: (id) => this.runTo(id),
      reset: (id) => this.resetCell(id),
      runAndMove: (id) => { this.runCell(id); this.focusNext(id); },
      edited: (id) => {
        if (id === "prompt") this.syncPromptInput();
        this.edits.schedule();
        this.announce();
      },
    };
    let group = null;
    opened.cells.forEach((state, index) => {
      const view = new CellView(state, index + 1, this.outputs, actions);
      this.cells.set(state.id, view);
      if (state.id === "generation") view.addControls(this.generationPanel().node);
      const part = opened.parts?.find((p) => p.first === state.id);
      if (part) this.root.append(partHeading(part));
      if (!state.group) {
        group = null;
        this.root.append(view.node);
      } else {
        if (group?.dataset.group !== state.group) {
          group = groupBox(opened.groups.find((g) => g.id === state.group), opened.model, this.selection);
          this.root.append(group);
        }
        group.append(view.node);
      }
      view.applyState(state);
    });
    this.toolbar.showPrediction(opened.prediction);
    this.predictionChange.show(opened.prediction_change);
    this.toolbar.showTokenCount(opened.cells);
    this.syncPromptInput();
    this.updateButtons();
    this.groups = opened.groups;
    this.shape = opened.model;
    this.announce();
    requestAnimationFrame(() => {
      this.root.style.setProperty("--toolbar-height", `${this.toolbar.node.offsetHeight + 4}px`);
    });
  }

  generationPanel() {
    this.generation = new GenerationPanel(this.py, {
      cell: () => this.cells.get("generation"),
      runCellsFirst: () => this.execute("to", "generation"),
      applyState: (state) => this.cells.get(state.id)?.applyState(state),
      enqueue: (task) => this.enqueue(task),
      changed: () => this.updateButtons(),
    });
    return this.generation;
  }

  setRunState(state, text) {
    this.toolbar?.setRunState(state, text);
  }

  updateButtons() {
    this.toolbar?.setButtons({ open: this.open, stoppable: Boolean(this.busy || this.generation?.generating) });
    this.generation?.setEnabled(this.open);
  }

  // ---------------------------------------------------------------- editing

  syncPromptInput() {
    const view = this.cells.get("prompt");
    if (view && this.toolbar) this.toolbar.showPrompt(promptFromSource(view.editor.getValue()));
  }

  setPrompt(text, { run }) {
    const view = this.cells.get("prompt");
    if (!view) return;
    const current = promptFromSource(view.editor.getValue());
    if (current !== text) view.editor.setValue(withPrompt(view.editor.getValue(), text));
    if (run && (current !== text || view.state.status !== "ok")) this.runCell("prompt");
    else if (run) this.runAll();
  }

  focusNext(id) {
    const next = this.cells.get(this.order[this.order.indexOf(id) + 1]);
    if (next) {
      next.editor.focus();
      next.node.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
  }

  resetCell(id) {
    this.cells.get(id).resetCode();
    this.edits.saveNow();
    this.runCell(id);
  }

  resetAll() {
    this.applySources({});
    this.runAll();
  }

  /** Zero one head's output in the weighted-values step, as a visible line of its code; again: remove the line. */
  toggleAblation(layer, head) {
    const view = this.cells.get("weighted_values");
    if (!view) return;
    const line = `if layer == ${layer}: z[${head}] = 0  # ablate head ${head} of layer ${layer}`;
    const source = view.editor.getValue();
    view.editor.setValue(source.split("\n").includes(line) ? withoutLine(source, line) : withLineBeforeLast(source, line));
    this.runCell("weighted_values");
  }

  /** {cellId: code} of the cells whose code differs from their default. */
  editedSources() {
    const sources = {};
    for (const [id, view] of this.cells) {
      const text = view.editor.getValue();
      if (text !== view.state.default_source) sources[id] = text;
    }
    return sources;
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
    this.edits.saveNow();
    return this.enqueue(() => this.execute(mode, id));
  }

  enqueue(task) {
    return this.queue.enqueue(task);
  }

  async execute(mode, id) {
    if (!this.open) return;
    this.busy += 1;
    this.updateButtons();
    const started = performance.now();
    this.setRunState("running", "running…");
    try {
      const result = await this.py.notebook.run(mode, id, this.sources(), this.selection.layer,
        (message) => this.onProgress(message));
      for (const state of result.cells) this.cells.get(state.id)?.applyState(state);
      this.toolbar.showPrediction(result.prediction);
      this.predictionChange.show(result.prediction_change);
      this.toolbar.showTokenCount(result.cells);
      const failed = result.cells.filter((c) => c.status === "failed").length;
      const ran = result.ran.length;
      this.setRunState(failed ? "failed" : "ok", `${ran} cell${ran === 1 ? "" : "s"} ran in ${formatDuration(performance.now() - started)}` +
        (failed ? ` · ${failed} failed` : ""));
      if (result.unchecked) this.checkLater();
    } catch (error) {
      if (error.pythonType === "RuntimeRestarted") return; // runtimeRestarted has updated the page
      this.setRunState("failed", `The notebook could not run: ${error.message}`);
      console.error(error);
    } finally {
      this.busy -= 1;
      this.updateButtons();
      this.announce();
    }
  }

  /** A run that edited nothing is shown before its values are compared with the engine's (a new prompt's
   * engine pass is a second forward pass), and so is a long prompt's edited logits cell's Δ (the engine's
   * logits are a second unembedding): compare them now, a slice at a time, so a run asked for meanwhile goes
   * first. The badges say "checking…" until then. */
  checkLater() {
    this.enqueue(async () => {
      if (!this.open) return;
      try {
        const result = await this.py.notebook.check(CHECK_SLICE_SECONDS);
        for (const state of result.states) this.cells.get(state.id)?.applyState(state);
        if (result.done) this.predictionChange.show(result.prediction_change);
        else this.checkLater();
      } catch (error) {
        if (error.pythonType !== "RuntimeRestarted") console.error(error);
      }
    });
  }

  /** After an edit a block cell that differs from the engine gets its Δ at the layer shown; another layer's
   * ("pending") is computed when that layer is chosen. */
  compareShownLayer() {
    const layer = this.selection.layer;
    const waiting = [...this.cells.values()].some((view) => view.state.delta?.passes?.[layer]?.mark === "pending");
    if (!waiting || !this.open) return;
    this.enqueue(async () => {
      try {
        const result = await this.py.notebook.deltasAt(layer);
        for (const state of result.states) this.cells.get(state.id)?.applyState(state);
      } catch (error) {
        if (error.pythonType !== "RuntimeRestarted") console.error(error);
      }
    });
  }

  /** Tell listeners (the outline) where each cell stands: its status, and whether its code is edited. */
  announce() {
    const cells = this.order.filter((id) => this.cells.has(id)).map((id) => {
      const view = this.cells.get(id);
      return { id, title: view.state.title, group: view.state.group || null, status: view.node.dataset.status,
        edited: view.editor.getValue() !== view.state.default_source };
    });
    this.editsList.show(cells);
    this.dispatchEvent(new CustomEvent("cells", { detail: { cells, groups: this.groups || [], model: this.shape } }));
  }

  /** Scroll a cell into view below the toolbar and put the cursor in its code. */
  reveal(id) {
    const view = this.cells.get(id);
    if (!view) return;
    view.node.scrollIntoView({ block: "start" });
    view.editor.focus();
  }

  /** {cellId: code} of every cell's default code. */
  defaultSources() {
    return Object.fromEntries([...this.cells].map(([id, view]) => [id, view.state.default_source]));
  }

  /** Make the cells the given code ({cellId: code}; cells not named get their default) and save it. */
  applySources(sources) {
    for (const [id, view] of this.cells) view.editor.setValue(sources[id] ?? view.state.default_source);
    this.edits.saveNow();
    this.syncPromptInput();
    this.announce();
  }

  onProgress(message) {
    if (message.event === "plan") {
      for (const id of message.cells) this.cells.get(id)?.setStatus("queued");
    } else if (message.event === "start") {
      for (const id of message.cells) {
        const view = this.cells.get(id);
        view?.setStatus("running", { ...view.state, progress: message.label || "running…" });
      }
      this.setRunState("running", message.label ? `running ${message.label}` : "running…");
    } else if (message.event === "done") {
      for (const state of message.states) this.cells.get(state.id)?.applyState(state);
    }
    this.announce();
  }

  interrupt() {
    this.setRunState("failed", "Stopping: restarting Python…");
    this.dispatchEvent(new Event("interrupt")); // app.js restarts the runtime
  }

  // ---------------------------------------------------------------- export / import

  async exportAs(format) {
    try {
      await exportNotebook(this.py, format, this.sources(), this.modelInfo?.name);
      this.setRunState("ok", `exported ${format === "py" ? ".py" : ".ipynb"}`);
    } catch (error) {
      this.setRunState("failed", `export failed: ${error.message}`);
    }
  }

  async importFile(file) {
    try {
      const imported = await importNotebook(this.py, file);
      for (const [id, source] of Object.entries(imported.sources)) this.cells.get(id)?.editor.setValue(source);
      this.edits.saveNow();
      this.setRunState("ok", `imported ${file.name}: ${Object.keys(imported.sources).length} cells` +
        (imported.skipped ? ` (${imported.skipped} not matched to a step)` : ""));
      await this.runAll();
    } catch (error) {
      this.setRunState("failed", `import failed: ${error.message}`);
    }
  }
}
