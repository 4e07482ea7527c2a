// Checks a weights zip's manifest against the zip itself, before anything is stored (docs/weights-format.md).
// The contract's constants and shape rules come from py/gpt2cells/weights_format.py, which build.py writes
// into weights-format.js (dist/ only).

import { HOW_TO_MAKE_A_VALID_ZIP } from "./zip-reader.js";
import {
  CONFIG_KEYS, DTYPES, FORMAT_NAME, FORMAT_VERSION, MANIFEST_ENTRY, SHAPE_RULES, TOKENIZER_FILES,
} from "./weights-format.js";

export { DTYPES, FORMAT_NAME, FORMAT_VERSION, MANIFEST_ENTRY };

export class ManifestError extends Error {
  constructor(message) {
    super(message);
    this.name = "ManifestError";
  }
}

/** Every tensor the engine needs, in checkpoint order, with the shape the config implies. */
export function expectedShapes(config) {
  const shape = (dims) => dims.map(([factor, key]) => factor * config[key]);
  const named = [
    ...SHAPE_RULES.embeddings,
    ...Array.from({ length: config.n_layer }, (_, i) => SHAPE_RULES.block.map(([name, dims]) => [`h.${i}.${name}`, dims])).flat(),
    ...SHAPE_RULES.final,
  ];
  return new Map(named.map(([name, dims]) => [name, shape(dims)]));
}

export function checkConfig(config) {
  if (!config || typeof config !== "object" || Array.isArray(config)) {
    throw new ManifestError('manifest.json: "config" must be an object');
  }
  for (const key of CONFIG_KEYS) {
    const value = config[key];
    if (!Number.isInteger(value) || value <= 0) {
      throw new ManifestError(`manifest.json: config["${key}"] must be a positive integer, got ${JSON.stringify(value)}`);
    }
  }
  if (config.n_embd % config.n_head) {
    throw new ManifestError(`manifest.json: config n_embd (${config.n_embd}) must be divisible by n_head (${config.n_head})`);
  }
}

const shapeText = (shape) => `[${shape.join(", ")}]`;
const sameShape = (a, b) => a.length === b.length && a.every((n, i) => n === b[i]);

function configText(config) {
  return `n_layer=${config.n_layer}, n_head=${config.n_head}, n_embd=${config.n_embd}, ` +
    `n_ctx=${config.n_ctx}, vocab_size=${config.vocab_size}`;
}

/** Parse manifest.json text; throws ManifestError saying what is wrong. */
export function parseManifest(text) {
  let manifest;
  try {
    manifest = JSON.parse(text);
  } catch (error) {
    throw new ManifestError(`manifest.json is not valid JSON (${error.message})`);
  }
  if (!manifest || typeof manifest !== "object" || Array.isArray(manifest)) {
    throw new ManifestError("manifest.json must hold a JSON object");
  }
  if (manifest.format !== FORMAT_NAME) {
    throw new ManifestError(`manifest.json: "format" is ${JSON.stringify(manifest.format)}, expected "${FORMAT_NAME}" — ` +
      `is this a GPT-2 Cells weights zip? Make one with: ${HOW_TO_MAKE_A_VALID_ZIP}`);
  }
  if (manifest.format_version !== FORMAT_VERSION) {
    throw new ManifestError(`unsupported weights format version ${JSON.stringify(manifest.format_version)}: ` +
      `this page reads version ${FORMAT_VERSION}. Repack with a matching weights_pack: ${HOW_TO_MAKE_A_VALID_ZIP}`);
  }
  if (typeof manifest.name !== "string" || !manifest.name) {
    throw new ManifestError('manifest.json: "name" must be a non-empty string');
  }
  checkConfig(manifest.config);
  if (!Array.isArray(manifest.tensors)) throw new ManifestError('manifest.json: "tensors" must be a list');
  const tokenizer = manifest.tokenizer;
  if (!tokenizer || !TOKENIZER_FILES[tokenizer.kind]) {
    throw new ManifestError(`manifest.json: tokenizer.kind must be "bpe" or "char", got ${JSON.stringify(tokenizer?.kind)}`);
  }
  for (const role of TOKENIZER_FILES[tokenizer.kind]) {
    if (typeof tokenizer.files?.[role] !== "string") {
      throw new ManifestError(`manifest.json: tokenizer.files.${role} is missing`);
    }
  }
  return manifest;
}

function checkTensorRecord(tensor, index) {
  const where = `manifest.json: tensors[${index}]${typeof tensor?.name === "string" ? ` ("${tensor.name}")` : ""}`;
  if (!tensor || typeof tensor.name !== "string") throw new ManifestError(`${where} has no name`);
  if (!(tensor.dtype in DTYPES)) {
    throw new ManifestError(`${where}: dtype ${JSON.stringify(tensor.dtype)} is not one of ${Object.keys(DTYPES).join(", ")}`);
  }
  if (!Array.isArray(tensor.shape) || !tensor.shape.every((n) => Number.isInteger(n) && n >= 0)) {
    throw new ManifestError(`${where}: shape must be a list of non-negative integers`);
  }
  if (typeof tensor.entry !== "string") throw new ManifestError(`${where}: "entry" is missing`);
  if (!Number.isInteger(tensor.nbytes)) throw new ManifestError(`${where}: "nbytes" must be an integer`);
  if (typeof tensor.sha256 !== "string" || !/^[0-9a-f]{64}$/i.test(tensor.sha256)) {
    throw new ManifestError(`${where}: "sha256" must be 64 hex digits`);
  }
}

/**
 * Check the manifest against the config and the zip's entries (shapes, byte lengths, entries present).
 * Returns the import plan: tensors (manifest order) and tokenizer files, each with its zip entry.
 */
export function planImport(manifest, zip) {
  const expected = expectedShapes(manifest.config);
  const seen = new Set();
  const tensors = [];
  manifest.tensors.forEach((tensor, index) => {
    checkTensorRecord(tensor, index);
    const name = tensor.name;
    if (seen.has(name)) throw new ManifestError(`manifest.json lists tensor "${name}" twice`);
    seen.add(name);
    const shape = expected.get(name);
    if (!shape) {
      throw new ManifestError(`manifest.json: unexpected tensor "${name}" — a GPT-2 with ${configText(manifest.config)} has no such weight`);
    }
    if (!sameShape(shape, tensor.shape)) {
      throw new ManifestError(`tensor "${name}": shape ${shapeText(tensor.shape)} contradicts the config ` +
        `(${configText(manifest.config)}), which implies ${shapeText(shape)}`);
    }
    const nbytes = shape.reduce((a, b) => a * b, 1) * DTYPES[tensor.dtype];
    if (tensor.nbytes !== nbytes) {
      throw new ManifestError(`tensor "${name}": manifest says ${tensor.nbytes} bytes but ${shapeText(shape)} ` +
        `${tensor.dtype} is ${nbytes} bytes`);
    }
    const entry = zip.entries.get(tensor.entry);
    if (!entry) throw new ManifestError(`tensor "${name}": its entry "${tensor.entry}" is not in the zip`);
    if (entry.size !== nbytes) {
      throw new ManifestError(`tensor "${name}": entry "${tensor.entry}" holds ${entry.size} bytes, ` +
        `expected ${nbytes} (${shapeText(shape)} ${tensor.dtype})`);
    }
    tensors.push({ ...tensor, zipEntry: entry });
  });
  const missing = [...expected.keys()].filter((name) => !seen.has(name));
  if (missing.length) {
    const shown = missing.slice(0, 5).map((n) => `"${n}" ${shapeText(expected.get(n))}`).join(", ");
    throw new ManifestError(`manifest.json is missing ${missing.length} tensor(s) the config needs: ${shown}` +
      (missing.length > 5 ? ", …" : ""));
  }
  const files = Object.values(manifest.tokenizer.files).map((path) => {
    const entry = zip.entries.get(path);
    if (!entry) throw new ManifestError(`tokenizer file "${path}" named in manifest.json is not in the zip`);
    return { path, zipEntry: entry };
  });
  return { tensors, files };
}

export function describeConfig(config) {
  return `${config.n_layer} layers, ${config.n_head} heads, n_embd ${config.n_embd}, ` +
    `context ${config.n_ctx}, vocab ${config.vocab_size}`;
}
