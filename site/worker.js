// Python worker: boots Pyodide off the main thread and answers requests from runtime.js.
// Protocol (every message is structured-clone data; see docs/architecture.md):
//   worker -> page  {type: "status", stage, message}          stage: runtime | numpy | regex | gpt2cells | ready
//                   {type: "ready", versions: {python, pyodide, numpy, regex, matmul}}
//                   {type: "boot-error", stage, error: {type, message, traceback}}
//                   {type: "progress", id, data}               a running call reported progress
//                   {type: "stream", id, name: "stdout"|"stderr", text}
//                   {type: "result", id, ok: true, value, repr, stdout, stderr}
//                   {type: "result", id, ok: false, error: {type, message, traceback}, stdout, stderr}
//   page -> worker  {id, cmd: "exec", code}                    run code in the worker's namespace; value of the
//                                                              last expression is the result
//                   {id, cmd: "call", fn: "pkg.module.function", args: [], kwargs: {}, progress: bool}
//                   ArrayBuffers/TypedArrays in args arrive in Python as memoryview (zero-copy on the JS side
//                   when the page transfers them).
import { loadPyodide } from "./pyodide/pyodide.mjs";

const SITE = new URL("./", import.meta.url);
let pyodide = null;
let namespace = null;     // globals of "exec" requests, shared between them like a notebook's
let callBridge = null;    // Python function: call fn(*args, **kwargs) with Python-side unpacking
let buffers = null;       // gpt2cells.worker.buffers: copies past 2 GiB of wasm memory (see bufferArgs)
let current = null;       // the request being served: {id, stdout: [], stderr: []}
const queue = [];         // requests wait for boot, then run one at a time (Python is single-threaded)
let booted = false;

function post(message, transfer = []) {
  self.postMessage(message, transfer);
}

function status(stage, message) {
  post({ type: "status", stage, message });
}

// Pyodide prefixes tracebacks with its own runner frames; learners only need their code's frames.
function describeError(error) {
  const type = error?.type || error?.name || "Error";
  const full = String(error?.message ?? error);
  let traceback = full;
  // the code's own frames ("<exec>"; past 2 GiB buffers.exec_out's frame comes first), else a call's
  const execFrame = full.search(/\n {2}File "<exec>"/);
  const firstUserFrame = execFrame > 0 ? execFrame : full.search(/\n {2}File "\/lib\/python3[^/]*\/site-packages\//);
  if (full.startsWith("Traceback") && firstUserFrame > 0) {
    traceback = "Traceback (most recent call last):" + full.slice(firstUserFrame);
  }
  const lines = traceback.trim().split("\n");
  return { type, message: lines[lines.length - 1], traceback: traceback.trim() };
}

// Pyodide 314.0.3 copies buffers between JS and wasm memory at a signed address, wrong past 2 GiB of heap
// (py/gpt2cells/worker/buffers.py). Up to 2 GiB its own conversions are kept; beyond, buffers cross through
// gpt2cells.worker.buffers, which copies at the unsigned address.
const SIGNED_LIMIT = 2 ** 31;
const heapBytes = () => pyodide._module.HEAPU8.length;
const utf8 = new TextDecoder();
// buffers.py's text_at: a str's UTF-8 bytes at their unsigned address → a String object (Python keeps a JS
// object as it is, where a plain string would be turned back into a str); plainStrings unwraps it
const textAt = (address, length) => new String(utf8.decode(pyodide._module.HEAPU8.subarray(address, address + length)));
const FORMATS = { Int8Array: "b", Int16Array: "h", Uint16Array: "H", Int32Array: "i", Uint32Array: "I",
                  BigInt64Array: "q", Float32Array: "f", Float64Array: "d" };

function bufferBytes(value) {
  if (value instanceof ArrayBuffer || ArrayBuffer.isView(value)) return value.byteLength;
  if (Array.isArray(value)) return value.reduce((sum, item) => sum + bufferBytes(item), 0);
  if (value && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.values(value).reduce((sum, item) => sum + bufferBytes(item), 0);
  }
  return 0;
}

/** args with each buffer replaced by a Python memoryview made by buffers.buffer_in (proxies collects them). */
function bufferArgs(value, proxies) {
  if (value instanceof ArrayBuffer || (ArrayBuffer.isView(value) && !(value instanceof DataView))) {
    const bytes = value instanceof ArrayBuffer ? new Uint8Array(value)
      : new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    const proxy = buffers.buffer_in(bytes, FORMATS[value.constructor.name] ?? "B");
    proxies.push(proxy);
    return proxy;
  }
  if (Array.isArray(value)) return value.map((item) => bufferArgs(item, proxies));
  if (value && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, bufferArgs(item, proxies)]));
  }
  return value;
}

/** value with each String object (a str routed by textAt) as a plain string. */
function plainStrings(value) {
  if (value instanceof String) return value.valueOf();
  if (Array.isArray(value)) return value.map(plainStrings);
  if (value && Object.getPrototypeOf(value) === Object.prototype) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plainStrings(item)]));
  }
  return value;
}

function toTransferable(value) {
  if (value === undefined || value === null) return { value: null, repr: null };
  if (typeof value !== "object" && typeof value !== "function") return { value, repr: null };
  // what exec_out/call_out routed past 2 GiB arrives as JavaScript already: a str as a String object, a buffer
  // as a typed array, a dict with a long key as an object
  if (typeof value.toJs !== "function") return { value: plainStrings(value), repr: null };
  const routed = heapBytes() > SIGNED_LIMIT && value.type !== undefined;
  if (routed) {
    const safe = buffers.buffers_out(value, textAt);
    value.destroy?.();
    value = safe;
    if (typeof value?.toJs !== "function") return { value: plainStrings(value ?? null), repr: null }; // a typed array, a string or a primitive
  }
  // A PyProxy: convert dict -> plain object, list -> Array, numpy arrays -> TypedArrays.
  try {
    const converted = value.toJs({ dict_converter: Object.fromEntries, create_pyproxies: false });
    return { value: routed ? plainStrings(converted) : converted, repr: null };
  } catch {
    return { value: null, repr: String(value) }; // not convertible: show Python's str()
  } finally {
    value.destroy?.();
  }
}

function collectBuffers(value, found = new Set()) {
  if (value instanceof ArrayBuffer) found.add(value);
  else if (ArrayBuffer.isView(value)) found.add(value.buffer);
  else if (Array.isArray(value)) value.forEach((item) => collectBuffers(item, found));
  else if (value && typeof value === "object") Object.values(value).forEach((item) => collectBuffers(item, found));
  return found;
}

async function run(request) {
  if (request.cmd === "exec") {
    const code = String(request.code ?? "");
    // past 2 GiB a str result would be decoded from the wrong address before we see it (buffers.py)
    if (heapBytes() > SIGNED_LIMIT) return buffers.exec_out(code, namespace, textAt);
    return pyodide.runPythonAsync(code, { globals: namespace });
  }
  if (request.cmd === "call") {
    const path = String(request.fn ?? "");
    const dot = path.lastIndexOf(".");
    if (dot <= 0) throw new Error(`call: fn must be "module.function", got ${JSON.stringify(path)}`);
    const module = pyodide.pyimport(path.slice(0, dot));
    const fn = module[path.slice(dot + 1)];
    if (!fn) throw new Error(`call: ${path.slice(0, dot)} has no attribute ${path.slice(dot + 1)}`);
    const id = request.id;
    const kwargs = { ...(request.kwargs ?? {}) };
    if (request.progress) {
      kwargs.progress = (data) => post({ type: "progress", id, data: toTransferable(data).value });
    }
    const proxies = [];
    const plainArgs = request.args ?? [];
    const args = pyodide.toPy(heapBytes() + bufferBytes(plainArgs) > SIGNED_LIMIT ? bufferArgs(plainArgs, proxies) : plainArgs);
    proxies.forEach((proxy) => proxy.destroy());
    const pyKwargs = pyodide.toPy(kwargs);
    try {
      const result = heapBytes() > SIGNED_LIMIT ? buffers.call_out(fn, args, pyKwargs, textAt) : callBridge(fn, args, pyKwargs);
      return result instanceof Promise || result?.then ? await result : result;
    } finally {
      args.destroy?.();
      pyKwargs.destroy?.();
      module.destroy?.();
      fn.destroy?.();
    }
  }
  throw new Error(`unknown cmd ${JSON.stringify(request.cmd)} (expected "exec" or "call")`);
}

async function serve(request) {
  current = { id: request.id, stdout: [], stderr: [] };
  try {
    const { value, repr } = toTransferable(await run(request));
    const message = { type: "result", id: request.id, ok: true, value, repr,
                      stdout: current.stdout.join(""), stderr: current.stderr.join("") };
    try {
      post(message, [...collectBuffers(value)]);
    } catch (cloneError) {
      post({ ...message, value: null, repr: `unsendable result: ${cloneError.message}` });
    }
  } catch (error) {
    post({ type: "result", id: request.id, ok: false, error: describeError(error),
           stdout: current.stdout.join(""), stderr: current.stderr.join("") });
  } finally {
    current = null;
  }
}

let draining = false;
async function drain() {
  if (draining || !booted) return;
  draining = true;
  while (queue.length) await serve(queue.shift());
  draining = false;
}

function stream(name) {
  return {
    batched: (text) => {
      if (!current) return console.log(`[python ${name}] ${text}`);
      current[name].push(text + "\n");
      post({ type: "stream", id: current.id, name, text: text + "\n" });
    },
  };
}

async function download(responsePromise, name) {
  const response = await responsePromise;
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
  return response.arrayBuffer();
}

async function boot() {
  let stage = "runtime";
  try {
    status(stage, "loading the Python runtime (Pyodide)");
    // fetched meanwhile; awaited (and reported) where they are needed
    const bytecodeDownload = fetch(new URL("pyodide/packages-bytecode.zip", SITE));
    const packageDownload = fetch(new URL("gpt2cells.zip", SITE), { cache: "no-cache" });
    bytecodeDownload.catch(() => {});
    packageDownload.catch(() => {});
    pyodide = await loadPyodide({ indexURL: new URL("pyodide/", SITE).href });
    pyodide.setStdout(stream("stdout"));
    pyodide.setStderr(stream("stderr"));
    const sitePackages = pyodide.runPython("import site; site.getsitepackages()[0]");
    // numpy's and regex's modules compiled by build.py, so importing them does not compile their sources
    pyodide.unpackArchive(await download(bytecodeDownload, "packages-bytecode.zip"), "zip", { extractDir: sitePackages });

    for (const name of ["numpy", "regex"]) {
      stage = name;
      status(stage, `loading ${name}`);
      await pyodide.loadPackage(name, { messageCallback: () => {}, errorCallback: (m) => console.error(m) });
      pyodide.pyimport(name).destroy(); // loadPackage only logs some failures; importing proves it worked
    }

    stage = "gpt2cells";
    status(stage, "loading gpt2cells");
    pyodide.unpackArchive(await download(packageDownload, "gpt2cells.zip"), "zip", { extractDir: sitePackages });
    pyodide.runPython("import importlib; importlib.invalidate_caches(); import gpt2cells");

    namespace = pyodide.globals.get("dict")();
    callBridge = pyodide.runPython("def _call(fn, args, kwargs):\n    return fn(*args, **kwargs)\n_call",
                                   { globals: pyodide.globals.get("dict")() });
    buffers = pyodide.pyimport("gpt2cells.worker.buffers");
    const versions = pyodide.runPython(
      "import sys, numpy, regex, gpt2cells.matmul\n" +
      "{'python': sys.version.split()[0], 'numpy': numpy.__version__, 'regex': regex.__version__,\n" +
      " 'matmul': gpt2cells.matmul.BACKEND}",
      { globals: pyodide.globals.get("dict")() },
    ).toJs({ dict_converter: Object.fromEntries });
    versions.pyodide = pyodide.version;
    booted = true;
    status("ready", "ready");
    post({ type: "ready", versions });
    drain();
  } catch (error) {
    const described = describeError(error);
    post({ type: "boot-error", stage, error: described });
    for (const request of queue.splice(0)) {
      post({ type: "result", id: request.id, ok: false, error: { ...described, message: `runtime failed to start: ${described.message}` },
             stdout: "", stderr: "" });
    }
    booted = false;
    self.onmessage = (event) => post({ type: "result", id: event.data?.id, ok: false,
      error: { ...described, message: `runtime failed to start: ${described.message}` }, stdout: "", stderr: "" });
  }
}

self.onmessage = (event) => {
  queue.push(event.data);
  drain();
};

boot();
