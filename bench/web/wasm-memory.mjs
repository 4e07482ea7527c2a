// Remembers every WebAssembly.Memory created in this worker, so the bench can read the peak: wasm memory
// only grows, so its final buffer size is the peak. Import this module before the runtime.
const memories = new Set();
const OriginalMemory = WebAssembly.Memory;
const OriginalInstance = WebAssembly.Instance;

function remember(instance) {
  for (const value of Object.values(instance?.exports ?? {})) {
    if (value instanceof OriginalMemory) memories.add(value);
  }
}

WebAssembly.Memory = new Proxy(OriginalMemory, {
  construct(target, args) { const memory = Reflect.construct(target, args); memories.add(memory); return memory; },
});
WebAssembly.Instance = new Proxy(OriginalInstance, {
  construct(target, args) { const instance = Reflect.construct(target, args); remember(instance); return instance; },
});
for (const name of ["instantiate", "instantiateStreaming"]) {
  const original = WebAssembly[name];
  WebAssembly[name] = async function (...args) {
    const result = await original.apply(this, args);
    remember(result.instance ?? result);
    return result;
  };
}

export function wasmMemoryBytes() {
  return Math.max(0, ...[...memories].map((memory) => memory.buffer.byteLength));
}

export function reply(run) {
  self.onmessage = async ({ data }) => {
    try {
      self.postMessage({ ok: true, result: await run(data) });
    } catch (error) {
      self.postMessage({ ok: false, error: String(error?.stack ?? error) });
    }
  };
}
