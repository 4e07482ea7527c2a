// Page entry: makes the components and wires them by events; none of them reads another's DOM.
//
//   runtime "restart"        → the loader loads the active model again, the notebook marks its cells
//   loader "model-loaded"    → the notebook opens for that model
//   loader "model-gone"      → the notebook closes (once its running job ends)
//   notebook "interrupt"     → the runtime restarts (Stop)
//   notebook "cells"         → the outline redraws; outline "jump" → the notebook reveals that cell
//   status line "details"    → the side panels show (narrow windows) and the runtime's details open
//   runtime ready            → the service worker registers (offline use; a new deploy shows a notice)
//
// window.gpt2cells exposes the runtime (tests and bench/ run Python through it), the models panel, the
// notebook and the share link maker.
import { PythonRuntime } from "./runtime.js";
import { pythonApi } from "./python-api.js";
import { RuntimePanel } from "./runtime-panel.js";
import { ModelLoader } from "./model-loader.js";
import { mountModelsPanel } from "./models-panel.js";
import { Notebook } from "./notebook/notebook.js";
import { StatusLine } from "./status-line.js";
import { Outline } from "./outline.js";
import { Share } from "./share.js";
import { installShortcuts } from "./keyboard.js";
import { registerServiceWorker } from "./update-notice.js";

const byId = (id) => document.getElementById(id);
const runtime = new PythonRuntime();
const py = pythonApi(runtime);
const runtimePanel = new RuntimePanel(byId("runtime"), byId("restart-runtime"), runtime);
// Weights zip -> IndexedDB -> the worker; the active model loads by itself on every visit.
const loader = new ModelLoader(py);
const statusLine = new StatusLine(byId("status-line"), runtime, loader);
const models = mountModelsPanel(byId("models"), loader);
const notebook = new Notebook(byId("notebook"), py);
const outline = new Outline(byId("outline"));
const share = new Share(byId("share-offer"), notebook); // before a model opens the notebook: it may hold runs

runtime.addEventListener("restart", () => {
  notebook.runtimeRestarted();
  loader.runtimeRestarted();
});
runtime.addEventListener("status", ({ detail }) => {
  if (detail.stage === "error") byId("runtime-details").open = true; // the failure's details, unasked
});
loader.addEventListener("model-loaded", (event) => notebook.modelLoaded(event.detail));
loader.addEventListener("model-gone", () => notebook.modelGone());
notebook.addEventListener("interrupt", () => runtime.restart());
notebook.addEventListener("cells", (event) => outline.show(event.detail));
outline.addEventListener("jump", (event) => notebook.reveal(event.detail.id));
statusLine.addEventListener("details", ({ detail }) => {
  document.body.dataset.details = detail.open ? "open" : "closed";
  byId("runtime-details").open = detail.open;
});
byId("copy-link").addEventListener("click", () => share.copyLink());
installShortcuts(byId("shortcuts"), byId("show-shortcuts"));

window.gpt2cells = { runtime, models, notebook, share };
runtimePanel.boot();
// After boot, so the first visit's own downloads are done: installing then revalidates them (304s).
runtime.ready.catch(() => {}).then(() => registerServiceWorker(byId("update-notice")));
