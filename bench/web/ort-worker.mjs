// The in-browser peer: the ONNX export in onnxruntime-web (wasm backend), timed like every other engine.
import { reply, wasmMemoryBytes } from "./wasm-memory.mjs";
import * as ort from "/ort/ort.wasm.min.mjs";

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function argmaxLast(logits) {
  const vocab = logits.dims.at(-1);
  const row = logits.data.subarray(logits.data.length - vocab);
  let best = 0;
  for (let i = 1; i < vocab; i++) if (row[i] > row[best]) best = i;
  return best;
}

reply(async ({ modelUrl, threads, promptIds, newTokens, repeats, nLayer, nHead, headDim }) => {
  ort.env.wasm.wasmPaths = "/ort/";
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  let start = performance.now();
  const modelBytes = new Uint8Array(await (await fetch(modelUrl)).arrayBuffer());
  const fetchMs = performance.now() - start;
  start = performance.now();
  const session = await ort.InferenceSession.create(modelBytes, { executionProviders: ["wasm"] });
  const createMs = performance.now() - start;

  const emptyPast = new ort.Tensor("float32", new Float32Array(0), [nLayer, 2, 1, nHead, 0, headDim]);
  const forward = (ids, past) =>
    session.run({ input_ids: new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]), past });
  const timedMs = async (action) => { const t = performance.now(); await action(); return performance.now() - t; };

  await forward(promptIds, emptyPast);
  const promptTimes = [];
  for (let i = 0; i < repeats; i++) promptTimes.push(await timedMs(() => forward(promptIds, emptyPast)));

  async function generate() {
    let out = await forward(promptIds, emptyPast);
    const tokens = [argmaxLast(out.logits)];
    while (tokens.length < newTokens) {
      out = await forward([tokens.at(-1)], out.present);
      tokens.push(argmaxLast(out.logits));
    }
    return tokens;
  }
  await generate();
  const rates = [];
  let tokens = [];
  for (let i = 0; i < Math.max(1, Math.floor(repeats / 2)); i++) {
    const t = performance.now();
    tokens = await generate();
    rates.push(tokens.length / ((performance.now() - t) / 1000));
  }
  return {
    threads, crossOriginIsolated: self.crossOriginIsolated, fetch_s: fetchMs / 1000, create_s: createMs / 1000,
    prompt_ms: median(promptTimes), decode_tok_s: median(rates), tokens, wasm_memory_bytes: wasmMemoryBytes(),
    model_bytes: modelBytes.byteLength,
  };
});
