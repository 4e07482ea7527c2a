// The models the page can load: those stored in IndexedDB (weights-store.js) plus the built-in ones shipped
// with the site, one of them active. Read-only for the built-ins; the store's own methods change the rest.
//
//   const library = await ModelLibrary.open();   // throws when IndexedDB is unavailable
//   library.problems                             // built-in models that could not be read, as messages
//   const record = await library.getModel(await library.activeId());

import { WeightsStore } from "./weights-store.js";
import { MANIFEST_ENTRY, parseManifest, planImport } from "./weights-manifest.js";
import { openZip } from "./zip-reader.js";

// Shipped with the site (site/models/, docs/adder.md), so the notebook works before any download. A built-in
// model is read from the site itself, never copied into IndexedDB, and cannot be deleted; it is the active
// model whenever no stored model is.
const BUILTIN_MODELS = [{ id: "builtin:adder", url: "models/adder.zip" }];

/** A built-in model's record, read and validated like a drop, not stored: entries maps blob keys to zip slices. */
async function openBuiltin({ id, url }) {
  const response = await fetch(new URL(url, document.baseURI));
  if (!response.ok) throw new Error(`HTTP ${response.status}`);
  const blob = await response.blob();
  const zip = await openZip(blob);
  const manifest = parseManifest(await zip.entries.get(MANIFEST_ENTRY)?.slice().text());
  const plan = planImport(manifest, zip);
  const entries = new Map([...plan.files.map((f) => [`file:${f.path}`, f.zipEntry]),
                           ...plan.tensors.map((t) => [`tensor:${t.name}`, t.zipEntry])]);
  return { id, name: manifest.name, size: blob.size, date: null, manifest, builtin: true, entries };
}

export class ModelLibrary {
  constructor(store, builtins, problems) {
    this.store = store;
    this.builtins = builtins; // id -> record
    this.problems = problems;
  }

  static async open() {
    const store = await WeightsStore.open();
    const builtins = new Map();
    const problems = [];
    for (const builtin of BUILTIN_MODELS) {
      try {
        builtins.set(builtin.id, await openBuiltin(builtin));
      } catch (error) {
        problems.push(`The built-in model ${builtin.url} could not be read: ${error.message}`);
      }
    }
    return new ModelLibrary(store, builtins, problems);
  }

  isBuiltin(id) {
    return this.builtins.has(id);
  }

  /** {stored: the store's records, builtin: the built-in ones}. */
  async listModels() {
    return { stored: await this.store.listModels(), builtin: [...this.builtins.values()] };
  }

  async getModel(id) {
    return this.builtins.get(id) ?? (await this.store.getModel(id));
  }

  async activeId() {
    return (await this.store.getActiveId()) ?? this.builtins.keys().next().value ?? null;
  }

  /** Make a model the active one (a built-in one is active when no stored model is). */
  setActive(id) {
    return this.store.setActive(this.isBuiltin(id) ? null : id);
  }

  readBytes(id, key) {
    const entry = this.builtins.get(id)?.entries.get(key);
    return entry ? entry.slice().arrayBuffer() : this.store.readBytes(id, key);
  }

  readText(id, key) {
    const entry = this.builtins.get(id)?.entries.get(key);
    return entry ? entry.slice().text() : this.store.readText(id, key);
  }
}
