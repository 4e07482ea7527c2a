// The in-browser peer: the ONNX export in onnxruntime-web (wasm backend), timed like every other engine.
//   {cmd: "load", modelUrl, threads, nLayer, nHead, headDim}  → session info (once, first)
//   {cmd: "prompt", promptIds, repeats}                      → median ms of one forward over the prompt
//   {cmd: "decode", promptIds, newTokens}                    → tokens/s of one greedy generation (prefill included)
import { reply, wasmMemoryBytes } from "./wasm-memory.mjs";
import * as ort from "/ort/ort.wasm.min.mjs";

let session = null;
let emptyPast = null;

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function argmaxLast(logits) {
  const vocab = logits.dims.at(-1);
  const row = logits.data.subarray(logits.data.length - vocab);
  let best = 0;
  for (let i = 1; i < vocab; i++) if (row[i] > row[best]) best = i;
  return best;
}

function forward(ids, past) {
  const inputIds = new ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]);
  return session.run({ input_ids: inputIds, past });
}

async function load({ modelUrl, threads, nLayer, nHead, headDim }) {
  ort.env.wasm.wasmPaths = "/ort/";
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.proxy = false;
  let start = performance.now();
  const modelBytes = new Uint8Array(await (await fetch(modelUrl)).arrayBuffer());
  const fetchMs = performance.now() - start;
  start = performance.now();
  session = await ort.InferenceSession.create(modelBytes, { executionProviders: ["wasm"] });
  emptyPast = new ort.Tensor("float32", new Float32Array(0), [nLayer, 2, 1, nHead, 0, headDim]);
  return { threads, crossOriginIsolated: self.crossOriginIsolated, fetch_s: fetchMs / 1000,
           create_s: (performance.now() - start) / 1000, model_bytes: modelBytes.byteLength,
           wasm_memory_bytes: wasmMemoryBytes() };
}

async function prompt({ promptIds, repeats }) {
  await forward(promptIds, emptyPast);
  const times = [];
  for (let i = 0; i < repeats; i++) {
    const start = performance.now();
    await forward(promptIds, emptyPast);
    times.push(performance.now() - start);
  }
  return { prompt_ms: median(times) };
}

async function decode({ promptIds, newTokens }) {
  const start = performance.now();
  let out = await forward(promptIds, emptyPast);
  const tokens = [argmaxLast(out.logits)];
  while (tokens.length < newTokens) {
    out = await forward([tokens.at(-1)], out.present);
    tokens.push(argmaxLast(out.logits));
  }
  return { decode_tok_s: tokens.length / ((performance.now() - start) / 1000), tokens,
           wasm_memory_bytes: wasmMemoryBytes() };
}

reply((message) => ({ load, prompt, decode })[message.cmd](message));
