// What a learner gives the page (files, a folder, a zip of a folder) as one flat list of named Files, and which
// of them make a model: a gpt2cells weights zip, or a Hugging Face GPT-2 folder (config, safetensors, tokenizer).
// Nothing here reads tensor bytes: a folder's files stay on disk, a zip's entries are inflated to Blobs.
// A File taken from a folder or a zip is named by its path inside it ("gpt2/config.json"); roles go by base name.

import { FORMAT_NAME, MANIFEST_ENTRY } from "./weights-manifest.js";
import { readZipEntries } from "./zip-reader.js";

export class DroppedFilesError extends Error {
  constructor(message) {
    super(message);
    this.name = "DroppedFilesError";
  }
}

const CONFIG = "config.json";
const INDEX = "model.safetensors.index.json";
const VOCAB = "vocab.json";
const MERGES = "merges.txt";
const TOKENIZER_JSON = "tokenizer.json";
const SAFETENSORS = /\.safetensors$/;
const NAMES_SHOWN = 12;

export const baseName = (name) => name.slice(name.lastIndexOf("/") + 1);
const folderOf = (name) => name.slice(0, name.lastIndexOf("/") + 1);
const depth = (file) => file.name.split("/").length;
const isHidden = (path) => path.split("/").some((part) => part.startsWith(".") || part === "__MACOSX");
const isZip = (file) => /\.zip$/i.test(file.name);

/** Files a Hugging Face GPT-2 folder can contribute; a zip's other entries (other frameworks' weights) stay packed. */
const isModelFile = (path) => {
  const name = baseName(path);
  return [CONFIG, INDEX, VOCAB, MERGES, TOKENIZER_JSON].includes(name) || SAFETENSORS.test(name);
};

const renamed = (file, path) => (file.name === path ? file : new File([file], path, {
  type: file.type, lastModified: file.lastModified,
}));

function promised(call) {
  return new Promise((resolve, reject) => call(resolve, reject));
}

async function filesOfEntry(entry, path) {
  if (isHidden(entry.name)) return [];  // .git, .DS_Store, __MACOSX: never part of a model
  if (entry.isFile) return [renamed(await promised((ok, fail) => entry.file(ok, fail)), path)];
  const reader = entry.createReader();
  const files = [];
  for (;;) {  // readEntries hands out a directory in batches (about 100 in Chromium) until an empty one
    const batch = await promised((ok, fail) => reader.readEntries(ok, fail));
    if (batch.length === 0) return files;
    for (const child of batch) files.push(...await filesOfEntry(child, `${path}/${child.name}`));
  }
}

async function isWeightsZip(entries) {
  const manifest = entries.find((entry) => entry.name === MANIFEST_ENTRY);
  if (!manifest) return false;
  try {
    return JSON.parse(await (await manifest.blob()).text())?.format === FORMAT_NAME;
  } catch {
    return true;  // a damaged manifest is still the weights zip's: its import names the problem
  }
}

/**
 * A lone zip holding a config.json and no weights zip manifest is a zipped Hugging Face folder: its model files,
 * unpacked. Any other zip is left whole for the weights-zip import, whose messages say what it lacks.
 */
async function unpackFolderZip(files) {
  if (files.length !== 1 || !isZip(files[0])) return files;
  let entries;
  try {
    entries = await readZipEntries(files[0]);
  } catch {
    return files;  // no zip directory: the weights-zip import reports what is wrong with the file
  }
  if (await isWeightsZip(entries) || !entries.some((entry) => baseName(entry.name) === CONFIG)) return files;
  const wanted = entries.filter((entry) => !isHidden(entry.name) && isModelFile(entry.name));
  const unpacked = [];
  for (const entry of wanted) unpacked.push(new File([await entry.blob()], entry.name));
  return unpacked;
}

/** Files and folders dropped on the page. Call it inside the drop handler: the items expire after it returns. */
export async function filesFromDataTransfer(dataTransfer) {
  const entries = [...dataTransfer.items]
    .filter((item) => item.kind === "file")
    .map((item) => item.webkitGetAsEntry?.() ?? null);  // taken synchronously, before any await
  if (entries.length === 0 || entries.some((entry) => entry === null)) {
    return filesFromFileList(dataTransfer.files);
  }
  const files = [];
  for (const entry of entries) files.push(...await filesOfEntry(entry, entry.name));
  files.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));  // directories list in any order
  return unpackFolderZip(files);
}

/** Files chosen in a file picker (`<input type=file multiple>`, or `webkitdirectory` for a folder). */
export async function filesFromFileList(fileList) {
  const files = [...fileList]
    .map((file) => renamed(file, file.webkitRelativePath || file.name))
    .filter((file) => !isHidden(file.name));
  return unpackFolderZip(files);
}

function namesText(files) {
  const names = files.map((file) => file.name);
  const shown = names.slice(0, NAMES_SHOWN).join(", ");
  return names.length > NAMES_SHOWN ? `${shown} and ${names.length - NAMES_SHOWN} more` : shown || "(none)";
}

/**
 * The files of the model folder: the one holding the shallowest config.json. A Hub repo's folder also carries
 * exports in subfolders (openai-community/gpt2 has onnx/config.json); two config.json side by side are two models.
 */
function modelFolderFiles(files) {
  const configs = files.filter((file) => baseName(file.name) === CONFIG);
  if (configs.length === 0) throw new DroppedFilesError(`no ${CONFIG} among the dropped files: ${namesText(files)}`);
  const top = Math.min(...configs.map(depth));
  const topConfigs = configs.filter((file) => depth(file) === top);
  if (topConfigs.length > 1) {
    throw new DroppedFilesError(`${topConfigs.length} files named ${CONFIG} (${namesText(topConfigs)}): these are ` +
      "files of different models; drop one model's folder");
  }
  const folder = folderOf(topConfigs[0].name);
  return files.filter((file) => folderOf(file.name) === folder);
}

/**
 * Which model the files make. Returns {kind: "weights-zip", file} or {kind: "huggingface", files: {config,
 * weights: [File], index, vocab, merges, tokenizerJson}} (absent ones null; vocab + merges win over
 * tokenizer.json). Throws DroppedFilesError naming what is missing or doubled. The files' contents are checked
 * later, by the conversion.
 */
export function classifyFiles(files) {
  files = [...files];
  const zips = files.filter(isZip);
  if (zips.length === 1 && files.length === 1) return { kind: "weights-zip", file: zips[0] };
  if (zips.length > 0) {
    throw new DroppedFilesError(`${zips.map((f) => f.name).join(", ")} dropped together with other files: ` +
      "drop a weights zip (or a zipped model folder) on its own");
  }
  files = modelFolderFiles(files);
  const byName = new Map();
  for (const file of files) {
    const name = baseName(file.name);
    byName.set(name, [...(byName.get(name) ?? []), file]);
  }
  const one = (name) => {
    const found = byName.get(name) ?? [];
    if (found.length > 1) {
      throw new DroppedFilesError(`${found.length} files named ${name} (${namesText(found)}): ` +
        "these are files of different models; drop one model's folder");
    }
    return found[0] ?? null;
  };
  const config = one(CONFIG);
  const index = one(INDEX);
  const vocab = one(VOCAB);
  const merges = one(MERGES);
  const tokenizerJson = one(TOKENIZER_JSON);
  const weights = files.filter((file) => SAFETENSORS.test(baseName(file.name)));
  const among = `among the dropped files: ${namesText(files)}`;
  if (weights.length === 0) {
    const pytorch = files.some((file) => /\.(bin|pt|pth|ckpt|h5|msgpack)$/.test(file.name));
    throw new DroppedFilesError(`no .safetensors weights (model.safetensors) ${among}` +
      (pytorch ? "; the page reads safetensors only (other formats: convert with python -m weights_pack)" : ""));
  }
  if (weights.length > 1 && !index) {
    throw new DroppedFilesError(`${weights.length} .safetensors files but no ${INDEX} saying how they make ` +
      `one model ${among}`);
  }
  one("model.safetensors");
  if (!(vocab && merges) && !tokenizerJson) {
    const half = vocab ? `${VOCAB} without ${MERGES}` : merges ? `${MERGES} without ${VOCAB}` : "no tokenizer";
    throw new DroppedFilesError(`${half}: GPT-2 needs ${VOCAB} + ${MERGES} or ${TOKENIZER_JSON}, ${among}`);
  }
  const bpe = Boolean(vocab && merges);
  return {
    kind: "huggingface",
    files: {
      config, weights, index,
      vocab: bpe ? vocab : null, merges: bpe ? merges : null, tokenizerJson: bpe ? null : tokenizerJson,
    },
  };
}
