// The notebook as a file: export the cells' code as .py or .ipynb (Python writes the text), import one back.

import { el } from "./element.js";

function download(text, fileName, type) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const link = el("a", { href: url, download: fileName });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Download the cells' sources as gpt2cells-<model>.<format> (format "py" or "ipynb"). */
export async function exportNotebook(py, format, sources, modelName) {
  const text = await py.notebook.exportNotebook(format, sources);
  const slug = (modelName || "notebook").replace(/[^\w.-]+/g, "-");
  download(text, `gpt2cells-${slug}.${format}`, format === "py" ? "text/x-python" : "application/x-ipynb+json");
}

/** {sources: {cellId: code}, skipped: cells of the file matched to no step} of a .py or .ipynb file. */
export async function importNotebook(py, file) {
  return py.notebook.importNotebook(await file.text(), file.name);
}
