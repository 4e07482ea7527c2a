// Page entry: starts the Python runtime, shows its boot progress, then runs the first cell.
// Other modules reach the runtime through window.gpt2cells (or by importing runtime.js themselves).
import { PythonRuntime } from "./runtime.js";
import { isTable, renderTable } from "./table.js";
import { mountModelsPanel } from "./models-panel.js";
import { mountNotebook } from "./notebook.js";

const STAGES = ["runtime", "numpy", "regex", "gpt2cells", "ready"];

const FIRST_CELL = `import numpy as np
import regex

# GPT-2's pre-tokenizer: split text into words, numbers, punctuation and spaces.
pattern = regex.compile(r"""'(?:[sdmt]|ll|ve|re)| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+""")
pieces = pattern.findall("GPT-2 runs in 12 cells, right here!")

lengths = np.array([len(piece) for piece in pieces])  # [n_pieces]
weights = np.exp(lengths - lengths.max())              # [n_pieces]
softmax = weights / weights.sum()                      # [n_pieces]

{"columns": ["piece", "chars", "cumulative chars", "softmax(chars)"],
 "rows": [[piece, int(n), int(c), float(p)]
          for piece, n, c, p in zip(pieces, lengths, np.cumsum(lengths), softmax)]}
`;

const statusLine = document.getElementById("runtime-status");
const stageItems = new Map([...document.querySelectorAll("#runtime-stages li")].map((li) => [li.dataset.stage, li]));
const versionsBox = document.getElementById("runtime-versions");
const errorBox = document.getElementById("runtime-error");
const restartButton = document.getElementById("restart-runtime");
const cellCode = document.getElementById("first-cell-code");
const cellRun = document.getElementById("first-cell-run");
const cellState = document.getElementById("first-cell-state");
const cellOutput = document.getElementById("first-cell-output");

const runtime = new PythonRuntime();
window.gpt2cells = { runtime, renderTable, isTable };
// Weights zip -> IndexedDB -> the worker; the active model loads by itself on every visit.
window.gpt2cells.models = mountModelsPanel(document.getElementById("models"), runtime);
window.gpt2cells.notebook = mountNotebook(document.getElementById("notebook"), runtime, {
  modelStatus: () => document.querySelector('[data-testid="model-status"]'),
});

function markStages(activeStage, failed = false) {
  const activeIndex = STAGES.indexOf(activeStage);
  STAGES.forEach((stage, index) => {
    const item = stageItems.get(stage);
    if (index < activeIndex || (stage === "ready" && activeStage === "ready")) item.dataset.state = "done";
    else if (index === activeIndex) item.dataset.state = failed ? "failed" : "active";
    else delete item.dataset.state;
  });
}

function showStatus(detail) {
  if (detail.stage === "error") {
    statusLine.dataset.state = "error";
    statusLine.textContent = `Python runtime failed while loading ${detail.failedStage}: ${detail.message}`;
    markStages(detail.failedStage, true);
    errorBox.textContent = detail.error.traceback || detail.message;
    errorBox.hidden = false;
    restartButton.disabled = false;
    return;
  }
  statusLine.dataset.state = detail.stage === "ready" ? "ready" : "loading";
  statusLine.textContent = detail.stage === "ready" ? "Python runtime: ready" : `Python runtime: ${detail.message}…`;
  markStages(detail.stage);
}

function showVersions(versions) {
  for (const name of ["python", "numpy", "regex", "pyodide", "matmul"]) {
    versionsBox.querySelector(`[data-testid="${name}-version"]`).textContent = versions[name];
  }
  versionsBox.hidden = false;
}

function showCellResult(result) {
  cellOutput.replaceChildren();
  if (result.stdout) cellOutput.append(streamBlock(result.stdout));
  if (isTable(result.value)) cellOutput.append(renderTable(result.value));
  else if (result.repr !== null || result.value !== null) {
    cellOutput.append(streamBlock(result.repr ?? JSON.stringify(result.value, null, 1)));
  }
}

function streamBlock(text) {
  const pre = document.createElement("pre");
  pre.className = "cell-stream";
  pre.textContent = text;
  return pre;
}

async function runFirstCell() {
  cellRun.disabled = true;
  cellState.textContent = "running…";
  try {
    showCellResult(await runtime.exec(cellCode.value));
    cellState.textContent = "done";
  } catch (error) {
    cellOutput.replaceChildren();
    if (error.stdout) cellOutput.append(streamBlock(error.stdout));
    const traceback = streamBlock(error.traceback || error.message);
    traceback.className = "traceback";
    cellOutput.append(traceback);
    cellState.textContent = error.pythonType === "RuntimeRestarted" ? "interrupted" : `error: ${error.pythonType}`;
  } finally {
    cellRun.disabled = false;
  }
}

async function boot() {
  versionsBox.hidden = true;
  errorBox.hidden = true;
  cellRun.disabled = true;
  restartButton.disabled = false;
  try {
    showVersions(await runtime.ready);
  } catch {
    return; // the status line already shows the failure
  }
  await runFirstCell();
}

runtime.addEventListener("status", (event) => showStatus(event.detail));
restartButton.addEventListener("click", () => {
  runtime.restart();
  boot();
});
cellRun.addEventListener("click", runFirstCell);
cellCode.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.shiftKey) {
    event.preventDefault();
    runFirstCell();
  }
});

function fitCodeHeight() {
  cellCode.style.height = "auto";
  cellCode.style.height = `${cellCode.scrollHeight + 2}px`; // + borders (border-box sizing)
}
cellCode.addEventListener("input", fitCodeHeight);

cellCode.value = FIRST_CELL;
fitCodeHeight();
boot();
