// IndexedDB store for weights zips: several models, one active.
//
// Layout (database "gpt2cells-weights", version 1):
//   models   keyPath "id"      {id, name, fileName, size, date, manifest}   — a model exists iff this record does
//   blobs    keyPath [modelId, key]  {modelId, key, data}                    — key "tensor:<name>" or "file:<path>";
//                                     data is a Blob (a slice of the dropped File; Chromium copies it into its
//                                     own blob files, so the JS heap never holds the weights)
//   settings out-of-line keys  "active" → model id
//
// An import writes blobs under a fresh model id that has no models record yet, one transaction per tensor,
// while holding the Web Lock "gpt2cells-import:<id>". Only the final transaction adds the models record
// (and makes it active), so a failed, cancelled or killed import never shows a half model; its orphan
// blobs are deleted at once, or — if the tab died — by cleanStale() at the next start (an unlocked id
// without a models record is an abandoned import).

import { openZip, ZipFormatError } from "./zip-reader.js";
import { MANIFEST_ENTRY, ManifestError, parseManifest, planImport } from "./weights-manifest.js";
import { checkMemoryFit } from "./memory-budget.js";

const DB_NAME = "gpt2cells-weights";
const DB_VERSION = 1;
const IMPORT_LOCK_PREFIX = "gpt2cells-import:";
const READ_CHUNK_BYTES = 16 << 20; // reads of this size keep progress moving and cancel prompt

export class ImportCancelled extends Error {
  constructor() {
    super("import cancelled");
    this.name = "ImportCancelled";
  }
}

export class QuotaError extends Error {
  constructor(message) {
    super(message);
    this.name = "QuotaError";
  }
}

export { ZipFormatError, ManifestError };
export { MemoryFitError } from "./memory-budget.js";

const request = (req) => new Promise((resolve, reject) => {
  req.onsuccess = () => resolve(req.result);
  req.onerror = () => reject(req.error);
});

const transactionDone = (tx) => new Promise((resolve, reject) => {
  tx.oncomplete = () => resolve();
  tx.onerror = () => reject(tx.error);
  tx.onabort = () => reject(tx.error ?? new DOMException("transaction aborted", "AbortError"));
});

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KB", "MB", "GB", "TB"];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) { value /= 1024; unit++; }
  return `${value.toFixed(value < 10 ? 2 : 1)} ${units[unit]}`;
}

function isQuotaError(error) {
  return error?.name === "QuotaExceededError" ||
    (error?.name === "UnknownError" && /quota|space/i.test(error.message ?? ""));
}

function newModelId() {
  const random = crypto.getRandomValues(new Uint32Array(2));
  return `m${Date.now().toString(36)}${random[0].toString(36)}${random[1].toString(36)}`;
}

function hex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function readWhole(blob, { signal, onBytes }) {
  // [nbytes] one buffer per tensor, filled slice by slice so progress and Cancel stay live.
  const buffer = new ArrayBuffer(blob.size);
  const bytes = new Uint8Array(buffer);
  for (let at = 0; at < blob.size; at += READ_CHUNK_BYTES) {
    if (signal?.aborted) throw new ImportCancelled();
    const end = Math.min(blob.size, at + READ_CHUNK_BYTES);
    bytes.set(new Uint8Array(await blob.slice(at, end).arrayBuffer()), at);
    onBytes(end - at);
  }
  return buffer;
}

function withImportLock(id, task) {
  if (!navigator.locks) return task();
  return navigator.locks.request(IMPORT_LOCK_PREFIX + id, task);
}

export class WeightsStore {
  constructor(db) {
    this.db = db;
  }

  static async open() {
    const req = indexedDB.open(DB_NAME, DB_VERSION);
    req.onupgradeneeded = () => {
      const db = req.result;
      db.createObjectStore("models", { keyPath: "id" });
      db.createObjectStore("blobs", { keyPath: ["modelId", "key"] });
      db.createObjectStore("settings");
    };
    const store = new WeightsStore(await request(req));
    await store.cleanStale();
    return store;
  }

  close() {
    this.db.close();
  }

  async listModels() {
    const tx = this.db.transaction("models");
    const models = await request(tx.objectStore("models").getAll());
    return models.sort((a, b) => b.date - a.date);
  }

  async getModel(id) {
    return (await request(this.db.transaction("models").objectStore("models").get(id))) ?? null;
  }

  async getActiveId() {
    const tx = this.db.transaction(["settings", "models"]);
    const id = await request(tx.objectStore("settings").get("active"));
    if (id == null) return null;
    const model = await request(tx.objectStore("models").get(id));
    return model ? id : null;
  }

  async setActive(id) {
    const tx = this.db.transaction(["settings", "models"], "readwrite");
    const done = transactionDone(tx);
    if (id == null) {
      tx.objectStore("settings").delete("active");
    } else {
      const model = await request(tx.objectStore("models").get(id));
      if (!model) { tx.abort(); await done.catch(() => {}); throw new Error(`no stored model with id ${id}`); }
      tx.objectStore("settings").put(id, "active");
    }
    await done;
  }

  /** Delete a model (record first, so it vanishes atomically); returns true when it was the active one. */
  async deleteModel(id) {
    const tx = this.db.transaction(["models", "blobs", "settings"], "readwrite");
    const done = transactionDone(tx);
    const settings = tx.objectStore("settings");
    const wasActive = (await request(settings.get("active"))) === id;
    tx.objectStore("models").delete(id);
    tx.objectStore("blobs").delete(this.#blobRange(id));
    if (wasActive) settings.delete("active");
    await done;
    return wasActive;
  }

  async #data(modelId, key) {
    const tx = this.db.transaction("blobs");
    const record = await request(tx.objectStore("blobs").get([modelId, key]));
    if (!record) throw new Error(`stored model ${modelId} lacks ${key}: delete it and import the zip again`);
    return record.data;
  }

  /** One stored tensor's bytes, in a fresh ArrayBuffer the caller may transfer. */
  async readBytes(modelId, key) {
    const data = await this.#data(modelId, key);
    return data instanceof Blob ? data.arrayBuffer() : data;
  }

  /** One stored tokenizer file, as text. */
  async readText(modelId, key) {
    const data = await this.#data(modelId, key);
    return data instanceof Blob ? data.text() : new TextDecoder().decode(data);
  }

  #blobRange(modelId) {
    return IDBKeyRange.bound([modelId], [modelId, []]); // every [modelId, <string>] key
  }

  async #deleteBlobs(modelId) {
    const tx = this.db.transaction("blobs", "readwrite");
    const done = transactionDone(tx);
    tx.objectStore("blobs").delete(this.#blobRange(modelId));
    await done;
  }

  /** Delete blobs of imports that never finished (tab closed mid-import); live imports hold a lock. */
  async cleanStale() {
    const tx = this.db.transaction(["models", "blobs"]);
    const [modelIds, blobKeys] = await Promise.all([
      request(tx.objectStore("models").getAllKeys()),
      request(tx.objectStore("blobs").getAllKeys()),
    ]);
    const known = new Set(modelIds);
    const orphans = new Set(blobKeys.map(([modelId]) => modelId).filter((id) => !known.has(id)));
    if (!orphans.size) return [];
    const held = new Set();
    if (navigator.locks) {
      const { held: locks = [], pending = [] } = await navigator.locks.query();
      for (const lock of [...locks, ...pending]) {
        if (lock.name?.startsWith(IMPORT_LOCK_PREFIX)) held.add(lock.name.slice(IMPORT_LOCK_PREFIX.length));
      }
    }
    const stale = [...orphans].filter((id) => !held.has(id));
    for (const id of stale) await this.#deleteBlobs(id);
    return stale;
  }

  async storageEstimate() {
    const estimate = (await navigator.storage?.estimate?.()) ?? {};
    const persisted = (await navigator.storage?.persisted?.()) ?? false;
    return { usage: estimate.usage ?? 0, quota: estimate.quota ?? 0, persisted };
  }

  async requestPersistence() {
    try {
      return (await navigator.storage?.persist?.()) ?? false;
    } catch {
      return false;
    }
  }

  /**
   * Validate and store a weights zip. Nothing becomes visible unless every tensor checks out and is written.
   * onProgress({phase, done, total}) — bytes; signal — an AbortSignal for Cancel.
   * Returns the new model record (already the active model).
   */
  async importZip(file, { onProgress = () => {}, signal } = {}) {
    onProgress({ phase: "reading zip directory", done: 0, total: file.size });
    const zip = await openZip(file);
    const manifestEntry = zip.entries.get(MANIFEST_ENTRY);
    if (!manifestEntry) {
      throw new ManifestError("the zip has no manifest.json, so it is not a GPT-2 Cells weights zip. " +
        "Make one with: python -m weights_pack convert <checkpoint> -o model.zip");
    }
    const manifest = parseManifest(await manifestEntry.slice().text());
    const plan = planImport(manifest, zip);
    const items = [
      ...plan.files.map((f) => ({ key: `file:${f.path}`, label: f.path, data: f.zipEntry.slice() })),
      ...plan.tensors.map((t) => ({ key: `tensor:${t.name}`, label: `tensor "${t.name}"`, data: t.zipEntry.slice(),
                                    sha256: t.sha256 })),
    ];
    const size = items.reduce((sum, item) => sum + item.data.size, 0);
    return this.importModel({ manifest, fileName: file.name ?? "", size, items }, { onProgress, signal });
  }

  /**
   * Store a model from any source, all-or-nothing, and make it the active one: its checked manifest and its
   * items, an iterable or async iterable of {key: "tensor:<name>" | "file:<path>", label, data: Blob |
   * ArrayBuffer, sha256?} (a given sha256 is checked before the item is stored); size = the items' bytes.
   * Progress and Cancel as for importZip. Returns the new model record.
   */
  async importModel({ manifest, fileName, size, items }, { onProgress = () => {}, signal } = {}) {
    const total = size;
    const { usage, quota } = await this.storageEstimate();
    if (quota && total > quota - usage) {
      throw new QuotaError(`not enough browser storage: this model needs ${formatBytes(total)} but only ` +
        `${formatBytes(Math.max(0, quota - usage))} is free (${formatBytes(usage)} used of ${formatBytes(quota)} quota). ` +
        "Delete a stored model or free disk space, then import it again.");
    }
    checkMemoryFit(manifest); // a model that cannot run in the page's memory is refused before anything is stored
    if (signal?.aborted) throw new ImportCancelled();

    const id = newModelId();
    return withImportLock(id, async () => {
      try {
        let done = 0;
        for await (const item of items) {
          if (signal?.aborted) throw new ImportCancelled();
          const bytes = item.data instanceof Blob ? item.data.size : item.data.byteLength;
          if (item.sha256) {
            onProgress({ phase: `checking ${item.label}`, done, total });
            const buffer = item.data instanceof Blob ? await readWhole(item.data, {
              signal,
              onBytes: (n) => { done += n; onProgress({ phase: `checking ${item.label}`, done, total }); },
            }) : item.data;
            if (!(item.data instanceof Blob)) done += bytes;
            const digest = hex(await crypto.subtle.digest("SHA-256", buffer));
            if (digest !== item.sha256.toLowerCase()) {
              throw new ManifestError(`${item.label}: sha256 of its bytes is ${digest} but manifest.json says ` +
                `${item.sha256.toLowerCase()} — the zip is damaged or was edited; make it again with weights_pack`);
            }
          } else {
            done += bytes;
          }
          onProgress({ phase: `storing ${item.label}`, done, total });
          await this.#putBlob(id, item.key, item.data);
        }
        if (signal?.aborted) throw new ImportCancelled();
        onProgress({ phase: "committing", done, total });
        const record = { id, name: manifest.name, fileName, size: total, date: Date.now(), manifest };
        const tx = this.db.transaction(["models", "settings"], "readwrite");
        const committed = transactionDone(tx);
        tx.objectStore("models").add(record);
        tx.objectStore("settings").put(id, "active");
        await committed;
        return record;
      } catch (error) {
        await this.#deleteBlobs(id).catch(() => {});
        if (isQuotaError(error)) {
          throw new QuotaError(`browser storage quota exceeded while storing the model (${formatBytes(total)}). ` +
            "Nothing was kept. Delete a stored model or free disk space, then import it again.");
        }
        throw error;
      }
    });
  }

  async #putBlob(modelId, key, data) {
    const tx = this.db.transaction("blobs", "readwrite");
    const done = transactionDone(tx);
    tx.objectStore("blobs").put({ modelId, key, data });
    await done;
  }
}
