// A Hugging Face GPT-2 (config.json + safetensors + tokenizer, as dropped or downloaded) → the stored model a
// weights zip gives. The page only reads bytes: Python (gpt2cells.worker.hf_import, over gpt2cells.hf_checkpoint,
// the rules weights_pack uses too) checks the files and converts one tensor at a time (Conv1D weights to
// [out, in], bfloat16 widened); the store keeps each converted tensor as it keeps a weights zip's, so the model
// reloads like any other. Everything is checked before the first tensor is stored, and the store commits
// all-or-nothing.
//
//   const record = await importHuggingFace(store, py, classified.files, {name, signal, onProgress});

import { ImportCancelled } from "./weights-store.js";
import { baseName } from "./dropped-files.js";

const HEADER_PREFIX_BYTES = 8; // a safetensors file starts with its JSON header's length, a little-endian u64

const hex = (buffer) => Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");

/** promise, or ImportCancelled as soon as signal aborts (a Python call may wait behind a notebook run). */
function unlessCancelled(promise, signal) {
  if (!signal) return promise;
  return Promise.race([promise, new Promise((_, reject) => {
    if (signal.aborted) reject(new ImportCancelled());
    signal.addEventListener("abort", () => reject(new ImportCancelled()), { once: true });
  })]);
}

async function bytesOf(file, start, end) {
  return file.slice(start, end).arrayBuffer();
}

/** {file: base name, size, header: bytes} for each .safetensors file, as gpt2cells.worker.hf_import.plan takes. */
async function safetensorsHeaders(py, weights, signal) {
  const headers = [];
  for (const file of weights) {
    const name = baseName(file.name);
    const first = await bytesOf(file, 0, HEADER_PREFIX_BYTES);
    const length = await unlessCancelled(py.hf.headerLength(first, file.size, name), signal);
    const header = await bytesOf(file, HEADER_PREFIX_BYTES, HEADER_PREFIX_BYTES + length);
    headers.push({ file: name, size: file.size, header });
  }
  return headers;
}

async function tokenizerTexts({ vocab, merges, tokenizerJson }) {
  if (vocab && merges) return { "vocab.json": await vocab.text(), "merges.txt": await merges.text() };
  return { "tokenizer.json": await tokenizerJson.text() };
}

/** The model's name: its folder's (or the Hub repo's) last part. */
export function modelName(files, fallback = "huggingface-gpt2") {
  const path = files.config.name;
  const folder = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
  return baseName(folder) || fallback;
}

/**
 * Check, convert and store a Hugging Face GPT-2; returns the new model record (the active model).
 * files: classifyFiles(...).files; onProgress({phase, done, total}) in bytes of the stored model.
 */
export async function importHuggingFace(store, py, files, { name = modelName(files), signal, onProgress = () => {} } = {}) {
  const fileNamed = new Map(files.weights.map((file) => [baseName(file.name), file]));
  onProgress({ phase: "reading config, tokenizer and safetensors headers", done: 0, total: 0 });
  try {
    // (undefined, not null, for "no index": Pyodide turns undefined into None, null into JsNull)
    const plan = await unlessCancelled(py.hf.plan(name, await files.config.text(),
      await safetensorsHeaders(py, files.weights, signal), files.index ? await files.index.text() : undefined,
      await tokenizerTexts(files)), signal);
    if (signal?.aborted) throw new ImportCancelled();
    const read = (tensor) => bytesOf(fileNamed.get(tensor.file), tensor.start, tensor.end);
    if (plan.head) {
      onProgress({ phase: "checking that lm_head.weight equals wte.weight", done: 0, total: 0 });
      const wte = plan.tensors.find((tensor) => tensor.name === "wte.weight");
      await unlessCancelled(py.hf.checkHead(await read(wte), await read(plan.head)), signal);
    }
    const { manifest } = plan;
    const recordOf = new Map(manifest.tensors.map((record) => [record.name, record]));
    async function* items() {
      for (const [path, text] of Object.entries(plan.files)) {
        yield { key: `file:${path}`, label: path, data: new Blob([text]) };
      }
      for (const tensor of plan.tensors) {
        if (signal?.aborted) throw new ImportCancelled();
        const stored = await unlessCancelled(py.hf.convert(tensor.name, await read(tensor)), signal);
        // The same digest a weights zip's manifest carries, so a stored model looks the same however it came.
        recordOf.get(tensor.name).sha256 = hex(await crypto.subtle.digest("SHA-256", stored));
        yield { key: `tensor:${tensor.name}`, label: `tensor "${tensor.name}"`, data: new Blob([stored]) };
      }
    }
    const size = Object.values(plan.files).reduce((sum, text) => sum + new Blob([text]).size, 0) +
      plan.tensors.reduce((sum, tensor) => sum + tensor.nbytes, 0);
    const fileName = files.config.name.includes("/") ? files.config.name.split("/")[0] : name;
    return await store.importModel({ manifest, fileName, size, items: items() }, { onProgress, signal });
  } finally {
    py.hf.end().catch(() => {}); // queued after any call still running; nothing waits for it
  }
}
