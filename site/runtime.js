// Client for worker.js: one Python runtime in a module Web Worker, requests matched to replies by id.
//
//   const runtime = new PythonRuntime();
//   runtime.addEventListener("status", (e) => e.detail);   // {stage, message}; stage "ready" or "error" last
//   const versions = await runtime.ready;                  // {python, pyodide, numpy, regex}
//   const r = await runtime.exec("1 + 1");                 // {value: 2, repr: null, stdout: "", stderr: ""}
//   await runtime.call("gpt2cells.some_module.fn", [arrayBuffer], {kw: 1},
//                      {transfer: [arrayBuffer], onProgress: (data) => ...});
//   runtime.restart();                                     // kill a runaway cell: fresh worker, fresh Python
//
// A failed request rejects with PythonError (.pythonType, .traceback). Python state lives in the worker,
// so restart() loses it; callers re-run what they need after "ready".

export class PythonError extends Error {
  constructor({ type, message, traceback }) {
    super(message);
    this.name = "PythonError";
    this.pythonType = type;
    this.traceback = traceback || message;
  }
}

export class PythonRuntime extends EventTarget {
  constructor(workerUrl = new URL("./worker.js", import.meta.url)) {
    super();
    this.workerUrl = workerUrl;
    this.nextId = 1;
    this.pending = new Map(); // id -> {resolve, reject, onProgress, onStream}
    this.start();
  }

  start() {
    this.stage = "runtime";
    this.versions = null;
    this.bootError = null;
    this.ready = new Promise((resolve, reject) => {
      this.resolveReady = resolve;
      this.rejectReady = reject;
    });
    this.ready.catch(() => {}); // boot failures are reported through "status"; avoid unhandled rejections
    this.worker = new Worker(this.workerUrl, { type: "module" });
    this.worker.onmessage = (event) => this.receive(event.data);
    this.worker.onerror = (event) => {
      event.preventDefault?.();
      this.fail({ type: "WorkerError", message: event.message || "the worker script failed to load", traceback: "" });
    };
  }

  emit(name, detail) {
    this.dispatchEvent(new CustomEvent(name, { detail }));
  }

  fail(error) {
    this.bootError = error;
    this.emit("status", { stage: "error", failedStage: this.stage, message: error.message, error });
    this.rejectReady(new PythonError(error));
  }

  receive(message) {
    switch (message.type) {
      case "status":
        this.stage = message.stage;
        this.emit("status", { stage: message.stage, message: message.message });
        break;
      case "ready":
        this.versions = message.versions;
        this.resolveReady(message.versions);
        break;
      case "boot-error":
        this.stage = message.stage;
        this.fail(message.error);
        break;
      case "progress":
        this.pending.get(message.id)?.onProgress?.(message.data);
        break;
      case "stream":
        this.pending.get(message.id)?.onStream?.(message.name, message.text);
        break;
      case "result": {
        const request = this.pending.get(message.id);
        if (!request) return;
        this.pending.delete(message.id);
        if (message.ok) {
          request.resolve({ value: message.value, repr: message.repr, stdout: message.stdout, stderr: message.stderr });
        } else {
          const error = new PythonError(message.error);
          error.stdout = message.stdout;
          error.stderr = message.stderr;
          request.reject(error);
        }
        break;
      }
      default:
        console.warn("runtime: unknown message from worker", message);
    }
  }

  request(message, { transfer = [], onProgress, onStream } = {}) {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, onProgress, onStream });
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  // Run Python source in the worker's shared namespace; resolves with the last expression's value.
  exec(code, options = {}) {
    return this.request({ cmd: "exec", code }, options);
  }

  // Call a function of an importable module ("gpt2cells.module.function") with JSON-able args;
  // ArrayBuffers / TypedArrays become memoryview in Python. options.onProgress receives what the Python
  // function passes to its `progress` keyword argument (only given when onProgress is set).
  call(fn, args = [], kwargs = {}, options = {}) {
    return this.request({ cmd: "call", fn, args, kwargs, progress: Boolean(options.onProgress) }, options);
  }

  // Stop whatever Python is doing by replacing the worker; pending requests reject with "RuntimeRestarted".
  restart() {
    this.worker.terminate();
    const error = { type: "RuntimeRestarted", message: "the Python runtime was restarted", traceback: "" };
    for (const request of this.pending.values()) request.reject(new PythonError(error));
    this.pending.clear();
    this.start();
    this.emit("status", { stage: "runtime", message: "restarting the Python runtime" });
    this.emit("restart", {});
    return this.ready;
  }
}
