// The models panel: drop a weights zip (or pick it), keep it in IndexedDB, load the active one into Python.
//
//   const panel = mountModelsPanel(document.getElementById("models"), runtime);
//
// Import: weights-store.js validates and stores the zip (all-or-nothing) and makes it the active model.
// Load: each stored tensor is read as one ArrayBuffer (ahead of Python, see READ_AHEAD_BYTES) and transferred
// (not copied) to the worker, a few per call (CALL_BYTES), where gpt2cells.worker_api copies it once into
// numpy. The active model loads again after every page load and after a Python restart. With no stored model
// active, the built-in one (BUILTIN_MODELS) is.

import { ImportCancelled, WeightsStore, formatBytes } from "./weights-store.js";
import { MANIFEST_ENTRY, describeConfig, parseManifest, planImport } from "./weights-manifest.js";
import { openZip } from "./zip-reader.js";

const API = "gpt2cells.worker_api";
// Shipped with the site (site/models/, docs/adder.md), so the notebook works before any download. A built-in
// model is read from the site itself, never copied into IndexedDB, and cannot be deleted; it is the active
// model whenever no stored model is.
const BUILTIN_MODELS = [{ id: "builtin:adder", url: "models/adder.zip" }];

class LoadCancelled extends Error {
  constructor() {
    super("load cancelled");
    this.name = "LoadCancelled";
  }
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (value === true) node.setAttribute(key, "");
    else if (value !== false && value != null) node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

// Loading reads tensors from IndexedDB ahead of Python — while the runtime boots and while Python copies the
// previous call's tensors — holding at most this many bytes in the page (plus one tensor bigger than that, plus
// the call being assembled).
const READ_AHEAD_BYTES = 256 * 2 ** 20;
// Tensors go to Python in calls of about this many bytes: one call per tensor (148 for GPT-2 small) spent
// ~0.4 s of a reload in round trips between the page and the worker.
const CALL_BYTES = 64 * 2 ** 20;

/** tensors in order, cut into runs of about `bytes` bytes (a bigger tensor is a run of its own). */
function batches(tensors, bytes) {
  const runs = [];
  let run = [];
  let held = 0;
  for (const tensor of tensors) {
    if (run.length && held + tensor.nbytes > bytes) {
      runs.push(run);
      run = [];
      held = 0;
    }
    run.push(tensor);
    held += tensor.nbytes;
  }
  if (run.length) runs.push(run);
  return runs;
}

/** Reads `tensors` in order, up to `budget` bytes ahead of the consumer; take() → the next one's ArrayBuffer. */
function readAhead(tensors, read, budget) {
  let next = 0;
  let held = 0;
  const pending = [];
  const fill = () => {
    while (next < tensors.length && (pending.length === 0 || held + tensors[next].nbytes <= budget)) {
      const tensor = tensors[next++];
      held += tensor.nbytes;
      const reading = read(tensor);
      reading.catch(() => {}); // a failure is reported by take(); one never taken is of no interest
      pending.push({ tensor, reading });
    }
  };
  fill();
  return {
    async take() {
      const { tensor, reading } = pending.shift();
      const buffer = await reading;
      held -= tensor.nbytes; // the caller transfers it away at once
      fill();
      return buffer;
    },
  };
}

function percent(done, total) {
  return total ? Math.min(100, Math.floor((done / total) * 100)) : 0;
}

function formatDate(ms) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export class ModelsPanel {
  constructor(root, runtime) {
    this.root = root;
    this.runtime = runtime;
    this.store = null;
    this.busy = null; // {kind: "import"|"load", controller}
    this.loadedId = null; // model id whose weights are in Python
    this.builtins = new Map(); // id -> {id, name, size, manifest, builtin: true, entries: Map(key -> zip slice)}
    this.loading = Promise.resolve(); // the running loadModel, if any
    this.render();
  }

  render() {
    this.status = element("p", { class: "model-status", "data-testid": "model-status", role: "status",
      "aria-live": "polite", "data-state": "none", text: "No model loaded." });
    this.fileInput = element("input", { type: "file", accept: ".zip,application/zip", class: "visually-hidden",
      tabindex: "-1", "aria-hidden": "true", "data-testid": "weights-file" });
    this.dropZone = element("div", { class: "weights-drop", "data-testid": "weights-drop", role: "button",
      tabindex: "0", "aria-describedby": "weights-drop-help", "aria-disabled": "false" },
      element("strong", { text: "Drop a GPT-2 weights zip here" }),
      element("span", { id: "weights-drop-help", text: " or press Enter / click to choose one. " +
        "Make it with python -m weights_pack convert <checkpoint> -o model.zip" }),
      this.fileInput);
    this.progressLabel = element("span", { class: "progress-label", "data-testid": "weights-progress-label" });
    this.progressBar = element("progress", { max: "100", value: "0", "aria-label": "progress" });
    this.progressBytes = element("span", { class: "progress-bytes", "data-testid": "weights-progress-bytes" });
    this.cancelButton = element("button", { type: "button", "data-testid": "weights-cancel", text: "Cancel" });
    this.progress = element("div", { class: "weights-progress", "data-testid": "weights-progress", hidden: true,
      role: "group", "aria-label": "Model import and load progress" },
      this.progressLabel, this.progressBar, this.progressBytes, this.cancelButton);
    this.error = element("p", { class: "weights-error", "data-testid": "weights-error", role: "alert", hidden: true });
    this.notice = element("p", { class: "weights-notice", "data-testid": "weights-notice", role: "status", hidden: true });
    this.list = element("ul", { class: "model-list", "data-testid": "model-list", "aria-label": "Stored models" });
    this.storage = element("p", { class: "storage-usage", "data-testid": "storage-usage" });
    this.root.replaceChildren(
      element("h2", { text: "Model weights" }),
      this.status, this.dropZone, this.progress, this.error, this.notice, this.list, this.storage);
    this.bindEvents();
  }

  bindEvents() {
    const zone = this.dropZone;
    const hasFiles = (event) => [...(event.dataTransfer?.types ?? [])].includes("Files");
    zone.addEventListener("click", (event) => {
      if (event.target !== this.fileInput) this.fileInput.click();
    });
    zone.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") {
        event.preventDefault();
        this.fileInput.click();
      }
    });
    zone.addEventListener("dragenter", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      zone.dataset.dragging = "true";
    });
    zone.addEventListener("dragover", (event) => {
      if (!hasFiles(event)) return;
      event.preventDefault();
      event.dataTransfer.dropEffect = "copy";
    });
    zone.addEventListener("dragleave", () => delete zone.dataset.dragging);
    zone.addEventListener("drop", (event) => {
      event.preventDefault();
      delete zone.dataset.dragging;
      const file = event.dataTransfer?.files?.[0];
      if (file) this.importFile(file);
    });
    // A zip dropped beside the zone must not make the browser navigate away from the notebook.
    window.addEventListener("dragover", (event) => { if (hasFiles(event)) event.preventDefault(); });
    window.addEventListener("drop", (event) => { if (hasFiles(event)) event.preventDefault(); });
    this.fileInput.addEventListener("change", () => {
      const file = this.fileInput.files?.[0];
      this.fileInput.value = "";
      if (file) this.importFile(file);
    });
    this.cancelButton.addEventListener("click", () => this.busy?.controller.abort());
    this.runtime.addEventListener("restart", () => {
      this.loadedId = null;
      if (this.busy?.kind !== "load") this.loadActive(); // an interrupted load starts over by itself
    });
  }

  async start() {
    try {
      this.store = await WeightsStore.open();
    } catch (error) {
      this.showError(`Model storage (IndexedDB) is not available in this browser: ${error.message}`);
      this.setStatus("error", "No model: storage unavailable.");
      return;
    }
    await this.openBuiltins();
    await this.refresh();
    await this.loadActive();
  }

  /** Read the built-in models' zips from the site (validated like a drop, not stored). */
  async openBuiltins() {
    for (const { id, url } of BUILTIN_MODELS) {
      try {
        const response = await fetch(new URL(url, document.baseURI));
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const blob = await response.blob();
        const zip = await openZip(blob);
        const manifest = parseManifest(await zip.entries.get(MANIFEST_ENTRY)?.slice().text());
        const plan = planImport(manifest, zip);
        const entries = new Map([...plan.files.map((f) => [`file:${f.path}`, f.zipEntry]),
                                 ...plan.tensors.map((t) => [`tensor:${t.name}`, t.zipEntry])]);
        this.builtins.set(id, { id, name: manifest.name, size: blob.size, date: null, manifest, builtin: true, entries });
      } catch (error) {
        this.showError(`The built-in model ${url} could not be read: ${error.message}`);
      }
    }
  }

  async getModel(id) {
    return this.builtins.get(id) ?? (await this.store.getModel(id));
  }

  async activeId() {
    return (await this.store.getActiveId()) ?? this.builtins.keys().next().value ?? null;
  }

  async readBytes(id, key) {
    const entry = this.builtins.get(id)?.entries.get(key);
    return entry ? entry.slice().arrayBuffer() : this.store.readBytes(id, key);
  }

  async readText(id, key) {
    const entry = this.builtins.get(id)?.entries.get(key);
    return entry ? entry.slice().text() : this.store.readText(id, key);
  }

  // ---------------------------------------------------------------- display

  setStatus(state, text) {
    this.status.dataset.state = state;
    this.status.textContent = text;
  }

  showError(message) {
    this.error.textContent = message;
    this.error.hidden = false;
  }

  showNotice(message) {
    this.notice.textContent = message;
    this.notice.hidden = !message;
  }

  clearMessages() {
    this.error.hidden = true;
    this.error.textContent = "";
    this.showNotice("");
  }

  showProgress(label, done, total) {
    this.progress.hidden = false;
    this.progressLabel.textContent = label;
    const pct = percent(done, total);
    this.progressBar.value = pct;
    this.progressBytes.textContent = `${formatBytes(done)} of ${formatBytes(total)} (${pct}%)`;
  }

  setBusy(busy) {
    this.busy = busy;
    this.root.dataset.busy = busy ? busy.kind : "";
    this.dropZone.setAttribute("aria-disabled", busy ? "true" : "false");
    this.progress.hidden = !busy;
    for (const button of this.list.querySelectorAll("button")) button.disabled = Boolean(busy);
  }

  async refresh() {
    if (!this.store) return;
    const [stored, activeId, storage] = await Promise.all([
      this.store.listModels(), this.activeId(), this.store.storageEstimate(),
    ]);
    const models = [...stored, ...this.builtins.values()];
    this.list.replaceChildren(...models.map((model) => this.modelItem(model, model.id === activeId)));
    if (!stored.length) this.list.append(element("li", { class: "model-empty", text: "No models stored yet." }));
    this.storage.textContent = `Storage: ${formatBytes(storage.usage)} used of ${formatBytes(storage.quota)} ` +
      `this site may use · ${storage.persisted ? "persistent" : "not persistent (the browser may evict it when disk is low)"}`;
  }

  modelItem(model, active) {
    const loaded = model.id === this.loadedId;
    const use = element("button", { type: "button", "data-testid": "model-use",
      text: active ? (loaded ? "Reload" : "Load") : "Use", "aria-label": `Use ${model.name}` });
    const remove = element("button", { type: "button", "data-testid": "model-delete", text: "Delete",
      "aria-label": `Delete ${model.name}` });
    use.addEventListener("click", () => this.useModel(model.id));
    remove.addEventListener("click", () => this.deleteModel(model.id, model.name));
    use.disabled = remove.disabled = Boolean(this.busy);
    return element("li", { class: "model-item", "data-testid": "model-item", "data-model-id": model.id,
      "data-active": active ? "true" : "false", "aria-current": active ? "true" : false,
      "data-builtin": model.builtin ? "true" : false },
      element("span", { class: "model-name", "data-testid": "model-name", text: model.name }),
      element("span", { class: "model-size", "data-testid": "model-size", text: formatBytes(model.size) }),
      element("span", { class: "model-date", "data-testid": "model-date",
        text: model.builtin ? "built in" : formatDate(model.date) }),
      element("span", { class: "model-config", text: describeConfig(model.manifest.config) }),
      active ? element("span", { class: "model-active", text: "active" }) : "",
      use, model.builtin ? "" : remove);
  }

  // ---------------------------------------------------------------- actions

  async importFile(file) {
    if (this.busy?.kind === "load") { // e.g. the built-in model loading at page start: the drop wins
      this.busy.controller.abort();
      await this.loading;
    }
    if (this.busy || !this.store) return;
    this.clearMessages();
    const controller = new AbortController();
    this.setBusy({ kind: "import", controller });
    this.showProgress(`Importing ${file.name}`, 0, file.size);
    let record = null;
    try {
      record = await this.store.importZip(file, {
        signal: controller.signal,
        onProgress: ({ phase, done, total }) => this.showProgress(`Importing ${file.name}: ${phase}`, done, total),
      });
      await this.store.requestPersistence();
    } catch (error) {
      if (error instanceof ImportCancelled) this.showNotice(`Import of ${file.name} cancelled; nothing was stored.`);
      else this.showError(`Could not import ${file.name}: ${error.message}`);
    } finally {
      this.setBusy(null);
      await this.refresh();
    }
    if (record) await this.loadModel(record.id);
    else if (this.loadedId === null) await this.loadActive(); // the drop stopped a load: finish it after all
  }

  async useModel(id) {
    if (this.busy) return;
    this.clearMessages();
    await this.store.setActive(this.builtins.has(id) ? null : id);
    await this.refresh();
    await this.loadModel(id);
  }

  async deleteModel(id, name) {
    if (this.busy) return;
    this.clearMessages();
    await this.store.deleteModel(id);
    this.showNotice(`Deleted ${name}.`);
    await this.refresh();
    if (id === this.loadedId) {
      this.loadedId = null;
      await this.runtime.call(`${API}.cancel_load`).catch(() => {});
      this.setStatus("none", "No model loaded.");
      await this.loadActive(); // the built-in model, when there is one
    }
  }

  async loadActive() {
    if (!this.store || this.busy) return;
    const id = await this.activeId();
    if (id) await this.loadModel(id);
  }

  /** Copy a stored (or built-in) model into the Python worker, tensor by tensor, with progress and Cancel. */
  loadModel(id) {
    this.loading = this.#load(id);
    return this.loading;
  }

  async #load(id) {
    // busy before the first await: a drop arriving meanwhile must find this load and stop it, not run beside it
    if (this.busy) return; // an import started while our caller was awaiting: it loads its own model
    const controller = new AbortController();
    this.loadedId = null;
    this.setBusy({ kind: "load", controller });
    const record = await this.getModel(id);
    if (!record || controller.signal.aborted) {
      this.setBusy(null);
      return;
    }
    const { manifest } = record;
    const total = manifest.tensors.reduce((sum, t) => sum + t.nbytes, 0);
    const label = `Loading ${record.name} into Python`;
    this.setStatus("loading", `${label}…`);
    this.showProgress(`${label}: waiting for the Python runtime`, 0, total);
    const call = (fn, args, options) => this.runtime.call(`${API}.${fn}`, args, {}, options);
    let restarted = false;
    const tensors = readAhead(manifest.tensors, (tensor) => this.readBytes(id, `tensor:${tensor.name}`),
                              READ_AHEAD_BYTES);
    try {
      await this.runtime.ready;
      await call("begin_load", [JSON.stringify(manifest)]);
      for (const path of Object.values(manifest.tokenizer.files)) {
        await call("put_file", [path, await this.readText(id, `file:${path}`)]);
      }
      let done = 0;
      for (const batch of batches(manifest.tensors, CALL_BYTES)) {
        const buffers = [];
        for (const tensor of batch) {
          if (controller.signal.aborted) throw new LoadCancelled();
          this.showProgress(`${label}: ${tensor.name}`, done, total);
          buffers.push(await tensors.take());
          done += tensor.nbytes;
        }
        await call("put_tensors", [batch.map((tensor) => tensor.name), buffers], { transfer: buffers });
      }
      this.showProgress(`${label}: building the model`, done, total);
      await call("finish_load", []);
      this.loadedId = id;
      this.setStatus("ready", `${record.name} — ${describeConfig(manifest.config)} — ready`);
    } catch (error) {
      await call("cancel_load", []).catch(() => {});
      if (error instanceof LoadCancelled) {
        this.setStatus("none", `Loading ${record.name} cancelled; no model in Python. Press Load to try again.`);
      } else if (error.pythonType === "RuntimeRestarted") {
        restarted = true;
      } else {
        this.setStatus("error", `${record.name} could not be loaded.`);
        this.showError(`Could not load ${record.name} into Python: ${error.message}`);
      }
    } finally {
      this.setBusy(null);
      await this.refresh();
    }
    if (restarted) await this.loadActive();
  }
}

export function mountModelsPanel(root, runtime) {
  const panel = new ModelsPanel(root, runtime);
  panel.ready = panel.start();
  return panel;
}
