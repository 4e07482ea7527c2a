// Does a model fit the page's Python memory with room to run? Decided from its manifest alone (config and tensor
// bytes), before any byte is stored, so a model that cannot run is refused with the numbers instead of failing
// out of memory halfway through a load (docs/weights-format.md, "Memory").
//
// Everything Python holds lives in one WebAssembly memory, which a 32-bit wasm build caps near 4 GiB. A model
// needs its weights (kept in the zip's dtype) plus room to run its full context window:
//   - the KV cache of a generation that fills n_ctx positions (float32 keys and values, every layer);
//   - the largest arrays one forward pass over n_ctx positions holds at once: the attention scores, their
//     masked copy and the softmax of one layer ([n_head, n_ctx, n_ctx] each), or the logits of every position
//     ([n_ctx, vocab]), whichever is bigger (the MLP's [n_ctx, 4·n_embd] arrays are smaller for every GPT-2);
//   - the runtime itself: Python, NumPy, gpt2cells and a notebook run, measured (RUNTIME_BYTES).

/** Pyodide's heap maximum (its build's getHeapMax(): 4 GiB less one 64 KiB page); a test reads it from the runtime. */
export const WASM_MEMORY_LIMIT = 4294901760;
/** The page's wasm memory once the runtime has booted, loaded the built-in model and run its notebook, rounded up
 * (tests/browser/test_float16_memory_fit.py measures it and checks this constant covers it). */
export const RUNTIME_BYTES = 96 * 2 ** 20;

const FLOAT32_BYTES = 4;

export class MemoryFitError extends Error {
  constructor(message, need) {
    super(message);
    this.name = "MemoryFitError";
    this.need = need;
  }
}

/** Bytes the model needs in wasm memory, by part: {weights, kvCache, forward, runtime, total}. */
export function memoryNeeded(manifest) {
  const { n_layer, n_head, n_embd, n_ctx, vocab_size } = manifest.config;
  const weights = manifest.tensors.reduce((sum, tensor) => sum + tensor.nbytes, 0);
  const kvCache = 2 * n_layer * n_ctx * n_embd * FLOAT32_BYTES;
  const attention = 3 * n_head * n_ctx * n_ctx * FLOAT32_BYTES;
  const mlp = 3 * n_ctx * 4 * n_embd * FLOAT32_BYTES;
  const logits = n_ctx * vocab_size * FLOAT32_BYTES;
  const forward = Math.max(attention, mlp, logits);
  return { weights, kvCache, forward, runtime: RUNTIME_BYTES, total: weights + kvCache + forward + RUNTIME_BYTES };
}

const gigabytes = (n) => `${(n / 1e9).toFixed(n < 1e9 ? 2 : 1)} GB`;

function dtypesOf(manifest) {
  return [...new Set(manifest.tensors.map((tensor) => tensor.dtype))].join("/");
}

/** Throws MemoryFitError, saying how much the model needs and how much there is, when it does not fit. */
export function checkMemoryFit(manifest, limit = WASM_MEMORY_LIMIT) {
  const need = memoryNeeded(manifest);
  if (need.total <= limit) return need;
  const { n_layer, n_embd, n_ctx } = manifest.config;
  const halfWeights = manifest.tensors.reduce(
    (sum, tensor) => sum + (tensor.dtype === "float32" ? tensor.nbytes / 2 : tensor.nbytes), 0);
  const advice = halfWeights < need.weights && need.total - need.weights + halfWeights <= limit
    ? " In float16 it would fit: pack it with python -m weights_pack convert <checkpoint> -o model.zip --dtype float16."
    : " It is too big for this page in any dtype it reads.";
  throw new MemoryFitError(
    `"${manifest.name}" (${n_layer} layers × ${n_embd}, ${dtypesOf(manifest)}) needs ~${gigabytes(need.total)} ` +
    `to run here: weights ${gigabytes(need.weights)}, KV cache for ${n_ctx} positions ${gigabytes(need.kvCache)}, ` +
    `one forward pass over them ${gigabytes(need.forward)}, the runtime ${gigabytes(need.runtime)}; the page's ` +
    `Python can use at most ~${gigabytes(limit)} (WebAssembly's 32-bit memory). Nothing was stored.${advice}`,
    need);
}
