// Page entry: makes the components and wires them by events; none of them reads another's DOM.
//
//   runtime "restart"        → the loader loads the active model again, the notebook marks its cells
//   loader "model-loaded"    → the notebook opens for that model
//   loader "model-gone"      → the notebook closes (once its running job ends)
//   notebook "interrupt"     → the runtime restarts (Stop)
//
// window.gpt2cells exposes the runtime (tests and bench/ run Python through it), the models panel and the
// notebook.
import { PythonRuntime } from "./runtime.js";
import { pythonApi } from "./python-api.js";
import { RuntimePanel } from "./runtime-panel.js";
import { ModelLoader } from "./model-loader.js";
import { mountModelsPanel } from "./models-panel.js";
import { Notebook } from "./notebook/notebook.js";

const runtime = new PythonRuntime();
const py = pythonApi(runtime);
const runtimePanel = new RuntimePanel(document.getElementById("runtime"), document.getElementById("restart-runtime"),
                                      runtime);
// Weights zip -> IndexedDB -> the worker; the active model loads by itself on every visit.
const loader = new ModelLoader(py);
const models = mountModelsPanel(document.getElementById("models"), loader);
const notebook = new Notebook(document.getElementById("notebook"), py);

runtime.addEventListener("restart", () => {
  notebook.runtimeRestarted();
  loader.runtimeRestarted();
});
loader.addEventListener("model-loaded", (event) => notebook.modelLoaded(event.detail));
loader.addEventListener("model-gone", () => notebook.modelGone());
notebook.addEventListener("interrupt", () => runtime.restart());

window.gpt2cells = { runtime, models, notebook };
runtimePanel.boot();
