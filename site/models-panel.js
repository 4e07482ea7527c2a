// The models panel: get GPT-2 (download it from Hugging Face, drop its files, or drop a weights zip), keep it in
// IndexedDB, show the stored models and how loading the active one into Python goes.
//
//   const panel = mountModelsPanel(document.getElementById("models"), loader);
//
// Import: a weights zip is validated and stored by weights-store.js; Hugging Face files (dropped, picked, a
// zipped folder, or downloaded by hub-download.js) are converted by hf-import.js into the same stored model.
// Either way all-or-nothing, and the new model becomes the active one.
// Loading is model-loader.js's: the panel forwards Use/Reload/Cancel to it and renders its events. The active
// model loads after every page load and after a Python restart; with no stored model active, the built-in
// one (model-library.js) is.

import { ImportCancelled, formatBytes } from "./weights-store.js";
import { describeConfig } from "./weights-manifest.js";
import { classifyFiles, filesFromDataTransfer, filesFromFileList } from "./dropped-files.js";
import { importHuggingFace, modelName } from "./hf-import.js";
import { downloadHubModel, listHubModel } from "./hub-download.js";
import { HubControl } from "./hub-control.js";

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

function percent(done, total) {
  return total ? Math.min(100, Math.floor((done / total) * 100)) : 0;
}

function isCancel(error) {
  return error instanceof ImportCancelled || error?.name === "AbortError";
}

function formatDate(ms) {
  return new Date(ms).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export class ModelsPanel {
  constructor(root, loader) {
    this.root = root;
    this.loader = loader;
    this.library = null;
    this.busy = null; // {kind: "import"|"load", controller?}
    this.render();
  }

  render() {
    this.status = element("p", { class: "model-status", "data-testid": "model-status", role: "status",
      "aria-live": "polite", "data-state": "none", text: "No model loaded." });
    this.fileInput = element("input", { type: "file", multiple: true, class: "visually-hidden",
      accept: ".zip,.json,.txt,.safetensors,application/zip,application/json,text/plain",
      tabindex: "-1", "aria-hidden": "true", "data-testid": "weights-file" });
    this.dropZone = element("div", { class: "weights-drop", "data-testid": "weights-drop", role: "button",
      tabindex: "0", "aria-describedby": "weights-drop-help", "aria-disabled": "false" },
      element("strong", { text: "Or drop a Hugging Face GPT-2 folder here" }),
      element("span", { id: "weights-drop-help", text: " — its config.json, model.safetensors and vocab.json + " +
        "merges.txt (or tokenizer.json), as files, the folder, or a zip of it; or a weights zip made by " +
        "python -m weights_pack convert <checkpoint> -o model.zip. Press Enter or click to choose one or several files." }),
      this.fileInput);
    this.hub = new HubControl();
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
      this.status, this.hub.element, this.dropZone, this.progress, this.error, this.notice, this.list, this.storage);
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
      if (event.dataTransfer?.files?.length) this.importFiles(filesFromDataTransfer(event.dataTransfer));
    });
    // A zip dropped beside the zone must not make the browser navigate away from the notebook.
    window.addEventListener("dragover", (event) => { if (hasFiles(event)) event.preventDefault(); });
    window.addEventListener("drop", (event) => { if (hasFiles(event)) event.preventDefault(); });
    this.fileInput.addEventListener("change", () => {
      const gathering = this.fileInput.files?.length ? filesFromFileList(this.fileInput.files) : null;
      this.fileInput.value = "";
      if (gathering) this.importFiles(gathering);
    });
    this.hub.addEventListener("download", (event) => this.downloadFromHub(event.detail));
    this.hub.addEventListener("cancel", () => this.busy?.controller?.abort());
    this.cancelButton.addEventListener("click", () => {
      if (this.busy?.kind === "load") this.loader.cancel();
      else this.busy?.controller.abort();
    });
    this.loader.addEventListener("load-start", () => this.setBusy({ kind: "load" }));
    this.loader.addEventListener("load-progress", (event) => this.showLoadProgress(event.detail));
    this.loader.addEventListener("load-end", (event) => this.showLoadEnd(event.detail));
  }

  async start() {
    this.opening = this.loader.start(); // a drop before it opens waits for it (importFiles)
    try {
      this.library = await this.opening;
    } catch (error) {
      this.showError(`Model storage (IndexedDB) is not available in this browser: ${error.message}`);
      this.setStatus("error", "No model: storage unavailable.");
      return;
    }
    for (const problem of this.library.problems) this.showError(problem);
    await this.refresh();
    await this.loader.loadActive();
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
    const seconds = (performance.now() - this.busySince) / 1000;
    const rate = seconds > 0.5 && done ? ` · ${(done / seconds / 1e6).toFixed(1)} MB/s` : "";
    this.progressBytes.textContent = `${formatBytes(done)} of ${formatBytes(total)} (${pct}%)${rate}`;
  }

  setBusy(busy) {
    this.busy = busy;
    this.busySince = performance.now();
    this.hub.setDisabled(Boolean(busy));
    this.root.dataset.busy = busy ? busy.kind : "";
    this.dropZone.setAttribute("aria-disabled", busy ? "true" : "false");
    this.progress.hidden = !busy;
    for (const button of this.list.querySelectorAll("button")) button.disabled = Boolean(busy);
  }

  showLoadProgress({ name, step, done, total }) {
    const label = `Loading ${name} into Python`;
    if (this.status.dataset.state !== "loading") this.setStatus("loading", `${label}…`);
    this.showProgress(`${label}: ${step}`, done, total);
  }

  async showLoadEnd({ name, outcome, config, error }) {
    if (outcome === "loaded") this.setStatus("ready", `${name} — ${describeConfig(config)} — ready`);
    else if (outcome === "cancelled") {
      this.setStatus("none", `Loading ${name} cancelled; no model in Python. Press Load to try again.`);
    } else if (outcome === "failed") {
      this.setStatus("error", `${name} could not be loaded.`);
      this.showError(`Could not load ${name} into Python: ${error.message}`);
    }
    this.setBusy(null);
    await this.refresh();
  }

  async refresh() {
    if (!this.library) return;
    const [{ stored, builtin }, activeId, storage] = await Promise.all([
      this.library.listModels(), this.library.activeId(), this.library.store.storageEstimate(),
    ]);
    const models = [...stored, ...builtin];
    this.list.replaceChildren(...models.map((model) => this.modelItem(model, model.id === activeId)));
    if (!stored.length) this.list.append(element("li", { class: "model-empty", text: "No models stored yet." }));
    this.storage.textContent = `Storage: ${formatBytes(storage.usage)} used of ${formatBytes(storage.quota)} ` +
      `this site may use · ${storage.persisted ? "persistent" : "not persistent (the browser may evict it when disk is low)"}`;
  }

  modelItem(model, active) {
    const loaded = model.id === this.loader.loadedId;
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

  /**
   * Import what `getFiles(signal)` gives (dropped or picked files, a download): a weights zip, or a Hugging Face
   * GPT-2's files. `name` names a Hugging Face model (default: its folder's name).
   */
  async importFiles(getFiles, { name, what } = {}) {
    if (this.busy?.kind === "import") return;
    this.library = await this.opening.catch(() => null);
    if (!this.library) return;
    await this.loader.pause(); // e.g. the built-in model loading at page start: the drop wins
    if (this.busy) return;
    this.clearMessages();
    const controller = new AbortController();
    const { signal } = controller;
    this.setBusy({ kind: "import", controller });
    let label = what ?? "the dropped files";
    let record = null;
    try {
      this.showProgress(`Reading ${label}`, 0, 0);
      const model = classifyFiles(await (typeof getFiles === "function" ? getFiles(signal) : getFiles));
      label = model.kind === "weights-zip" ? model.file.name : (name ?? modelName(model.files));
      const onProgress = ({ phase, done, total }) => this.showProgress(`Importing ${label}: ${phase}`, done, total);
      this.showProgress(`Importing ${label}`, 0, model.file?.size ?? 0);
      const store = this.library.store;
      record = model.kind === "weights-zip"
        ? await store.importZip(model.file, { signal, onProgress })
        : await importHuggingFace(store, this.loader.py, model.files, { name: label, signal, onProgress });
      await store.requestPersistence();
    } catch (error) {
      if (isCancel(error)) this.showNotice(`Import of ${label} cancelled; nothing was stored.`);
      else this.showError(`Could not import ${label}: ${error.message}`);
    } finally {
      this.hub.showIdle();
      this.setBusy(null);
      this.loader.resume();
      await this.refresh();
    }
    if (record) await this.loader.load(record.id);
    else if (this.loader.loadedId === null) await this.loader.loadActive(); // the drop stopped a load: finish it
  }

  /** Size first, then the files (resuming a dropped connection), then the same import as a drop. */
  downloadFromHub({ repo, hubBase }) {
    return this.importFiles(async (signal) => {
      this.progress.hidden = true; // the hub control shows the download's own progress, with its Cancel
      this.hub.showAsking(repo, hubBase);
      const listing = await listHubModel(hubBase, repo, { signal });
      this.hub.showListing(listing);
      const files = await downloadHubModel(hubBase, repo, {
        listing, signal, onProgress: (progress) => this.hub.showProgress(progress),
      });
      this.hub.showIdle();
      return files;
    }, { name: repo, what: repo });
  }

  async useModel(id) {
    if (this.busy) return;
    this.clearMessages();
    await this.library.setActive(id);
    await this.refresh();
    await this.loader.load(id);
  }

  async deleteModel(id, name) {
    if (this.busy) return;
    this.clearMessages();
    await this.library.store.deleteModel(id);
    this.showNotice(`Deleted ${name}.`);
    await this.refresh();
    if (id === this.loader.loadedId) {
      await this.loader.unload();
      this.setStatus("none", "No model loaded.");
      await this.loader.loadActive(); // the built-in model, when there is one
    }
  }
}

export function mountModelsPanel(root, loader) {
  const panel = new ModelsPanel(root, loader);
  panel.ready = panel.start();
  return panel;
}
