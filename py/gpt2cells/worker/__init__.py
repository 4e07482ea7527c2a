"""What the page's Web Worker calls by dotted name (site/worker.js `call`), and the only module-level state.

- `gpt2cells.worker.models`: load a model sent from IndexedDB; keeps the active model.
- `gpt2cells.worker.notebook`: the notebook open for that model (run cells, slices of outputs, generation,
  export/import).

Everything else in gpt2cells is plain functions and objects that are handed what they need.
"""
