// Copies a model from the library (IndexedDB or the site) into the Python worker and says so in events.
//
//   const loader = new ModelLoader(py);
//   const library = await loader.start();                    // the models it can load (model-library.js)
//   loader.addEventListener("model-loaded", (e) => e.detail);  // {id, name, config, serial}: a model is in Python
//   loader.addEventListener("model-gone", () => ...);          // no model in Python (a load began, or a restart)
//   loader.load(id); loader.cancel(); await loader.pause(); loader.resume();
//
// Progress for a UI: "load-start" {id} (at once, before any await), "load-progress" {name, step, done, total}
// (bytes), "load-end" {id, name, outcome: "loaded"|"cancelled"|"failed"|"restarted"|"skipped", config, error}.
// Each stored tensor is read as one ArrayBuffer (ahead of Python, see READ_AHEAD_BYTES) and transferred
// (not copied) to the worker, a few per call (CALL_BYTES), where Python copies it once into numpy.

import { ModelLibrary } from "./model-library.js";

// Loading reads tensors from IndexedDB ahead of Python — while the runtime boots and while Python copies the
// previous call's tensors — holding at most this many bytes in the page (plus one tensor bigger than that, plus
// the call being assembled).
const READ_AHEAD_BYTES = 256 * 2 ** 20;
// Tensors go to Python in calls of about this many bytes: one call per tensor (148 for GPT-2 small) spent
// ~0.4 s of a reload in round trips between the page and the worker.
const CALL_BYTES = 64 * 2 ** 20;

class LoadCancelled extends Error {
  constructor() {
    super("load cancelled");
    this.name = "LoadCancelled";
  }
}

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

export class ModelLoader extends EventTarget {
  constructor(py) {
    super();
    this.py = py;
    this.library = null;
    this.loadedId = null; // model id whose weights are in Python
    this.controller = null; // the running load's, if any
    this.loading = Promise.resolve(); // the running load, if any
    this.paused = false; // an import is under way: it loads its own model when done
    this.serial = 0; // counts loads that finished, so a reload of the same model is news too
  }

  /** Open the library (IndexedDB and the built-in models); throws when IndexedDB is unavailable. */
  async start() {
    this.library = await ModelLibrary.open();
    return this.library;
  }

  emit(name, detail = {}) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  get busy() {
    return this.controller !== null;
  }

  /** Copy a stored (or built-in) model into the Python worker, with progress events; cancel() stops it. */
  load(id) {
    if (!this.library || this.busy || this.paused) return this.loading;
    this.loading = this.#load(id);
    return this.loading;
  }

  async loadActive() {
    if (!this.library || this.busy || this.paused) return;
    const id = await this.library.activeId();
    if (id) await this.load(id);
  }

  cancel() {
    this.controller?.abort();
  }

  /** Stop any load and start none until resume(): an import is about to make another model active. */
  async pause() {
    this.paused = true;
    this.cancel();
    await this.loading;
  }

  resume() {
    this.paused = false;
  }

  /** Drop the model from Python (its record was deleted). */
  async unload() {
    this.loadedId = null;
    await this.py.models.cancelLoad().catch(() => {});
    this.emit("model-gone");
  }

  /** The worker was replaced, with every Python object: load the active model again. */
  runtimeRestarted() {
    this.loadedId = null;
    this.emit("model-gone");
    if (!this.busy) this.loadActive(); // an interrupted load starts over by itself
  }

  async #load(id) {
    // busy before the first await: a drop arriving meanwhile must find this load and stop it, not run beside it
    const controller = new AbortController();
    this.controller = controller;
    this.emit("load-start", { id });
    const record = await this.library.getModel(id);
    if (!record || controller.signal.aborted) {
      this.controller = null;
      this.emit("load-end", { id, name: record?.name, outcome: "skipped" }); // nothing was sent to Python
      return;
    }
    const { manifest, name } = record;
    const total = manifest.tensors.reduce((sum, t) => sum + t.nbytes, 0);
    const progress = (step, done) => this.emit("load-progress", { id, name, step, done, total });
    this.loadedId = null;
    this.emit("model-gone");
    progress("waiting for the Python runtime", 0);
    const tensors = readAhead(manifest.tensors, (tensor) => this.library.readBytes(id, `tensor:${tensor.name}`),
                              READ_AHEAD_BYTES);
    let outcome = "loaded";
    let failure = null;
    try {
      await this.py.models.beginLoad(JSON.stringify(manifest));
      for (const path of Object.values(manifest.tokenizer.files)) {
        await this.py.models.putFile(path, await this.library.readText(id, `file:${path}`));
      }
      let done = 0;
      for (const batch of batches(manifest.tensors, CALL_BYTES)) {
        const buffers = [];
        for (const tensor of batch) {
          if (controller.signal.aborted) throw new LoadCancelled();
          progress(tensor.name, done);
          buffers.push(await tensors.take());
          done += tensor.nbytes;
        }
        await this.py.models.putTensors(batch.map((tensor) => tensor.name), buffers);
      }
      progress("building the model", done);
      await this.py.models.finishLoad();
      this.loadedId = id;
    } catch (error) {
      await this.py.models.cancelLoad().catch(() => {});
      if (error instanceof LoadCancelled) outcome = "cancelled";
      else if (error.pythonType === "RuntimeRestarted") outcome = "restarted";
      else [outcome, failure] = ["failed", error];
    } finally {
      this.controller = null;
    }
    if (outcome === "loaded") {
      this.serial += 1;
      this.emit("model-loaded", { id, name, config: manifest.config, serial: this.serial });
    }
    this.emit("load-end", { id, name, outcome, config: manifest.config, error: failure });
    if (outcome === "restarted") await this.loadActive();
  }
}
