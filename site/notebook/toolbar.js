// The notebook's sticky toolbar: prompt box (multi-line: Enter runs, Shift+Enter starts a new line; pasted
// newlines are kept), its token count, Run all, Stop, the next-token prediction, the run state, and export /
// import. It shows what it is told and forwards clicks to `actions`:
//   {setPrompt(text, {run}), runAll(), generate(), interrupt(), exportAs(format), importFile(file)}

import { formatValue, showToken } from "../grid.js";
import { el } from "./element.js";

export class Toolbar {
  constructor(actions) {
    this.prompt = el("textarea", { class: "nb-prompt", testid: "prompt", spellcheck: "false", rows: "1",
      "aria-label": "Prompt", placeholder: "Type a prompt and press Enter (Shift+Enter: new line)", id: "nb-prompt-input" });
    this.prompt.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        actions.setPrompt(this.prompt.value, { run: true });
      }
    });
    this.prompt.addEventListener("input", () => this.fitPrompt());
    this.prompt.addEventListener("change", () => actions.setPrompt(this.prompt.value, { run: false }));
    this.tokenCount = el("span", { class: "nb-token-count", testid: "token-count" });
    this.runAll = el("button", { type: "button", testid: "run-all", text: "Run all" });
    this.runAll.addEventListener("click", () => actions.runAll());
    this.generate = el("button", { type: "button", class: "secondary", testid: "toolbar-generate", text: "Generate",
      title: "Continue the prompt with the generation cell's settings" });
    this.generate.addEventListener("click", () => actions.generate());
    this.stop = el("button", { type: "button", class: "danger", testid: "interrupt", text: "Stop",
      title: "Interrupt Python (restarts the worker; the model reloads from storage)" });
    this.stop.addEventListener("click", () => actions.interrupt());
    const exportPy = el("button", { type: "button", class: "secondary", testid: "export-py", text: "Export .py" });
    exportPy.addEventListener("click", () => actions.exportAs("py"));
    const exportIpynb = el("button", { type: "button", class: "secondary", testid: "export-ipynb", text: "Export .ipynb" });
    exportIpynb.addEventListener("click", () => actions.exportAs("ipynb"));
    const importInput = el("input", { type: "file", accept: ".py,.ipynb", class: "visually-hidden", testid: "import-file",
      "aria-label": "Import a notebook (.py or .ipynb)" });
    importInput.addEventListener("change", () => {
      const file = importInput.files?.[0];
      importInput.value = "";
      if (file) actions.importFile(file);
    });
    const importButton = el("button", { type: "button", class: "secondary", testid: "import", text: "Import…" });
    importButton.addEventListener("click", () => importInput.click());
    this.runState = el("span", { class: "nb-run-state", testid: "run-state", role: "status", "aria-live": "polite" });
    this.prediction = el("div", { class: "nb-prediction", testid: "prediction", "aria-live": "polite" });
    this.node = el("div", { class: "nb-toolbar", role: "toolbar", "aria-label": "Notebook" },
      el("div", { class: "nb-toolbar-row" },
        el("label", { for: "nb-prompt-input", text: "Prompt" }), this.prompt, this.tokenCount, this.runAll, this.generate, this.stop),
      el("div", { class: "nb-toolbar-row" },
        this.prediction, this.runState, el("span", { class: "nb-spacer" }),
        exportPy, exportIpynb, importButton, importInput));
  }

  setRunState(state, text) {
    this.runState.dataset.state = state;
    this.runState.textContent = text;
  }

  setButtons({ open, stoppable }) {
    this.runAll.disabled = !open;
    this.generate.disabled = !open;
    this.stop.disabled = !stoppable;
  }

  /** The prompt cell's text, or null when that cell is not a plain prompt line (the box is then disabled). */
  showPrompt(text) {
    this.prompt.disabled = text === null;
    this.prompt.title = text === null ? "The prompt cell is not a plain prompt = \"…\" line; edit it below." : "";
    if (text !== null && document.activeElement !== this.prompt) {
      this.prompt.value = text;
      this.fitPrompt();
    }
  }

  /** The box grows with its lines, up to a few (then it scrolls). */
  fitPrompt() {
    this.prompt.rows = Math.min(6, Math.max(1, this.prompt.value.split("\n").length));
  }

  /** How many tokens the prompt became: the length of the token_ids cell's output when it ran. */
  showTokenCount(cellStates) {
    const tokenIds = cellStates.find((state) => state.id === "token_ids");
    // longer than the context window: the cell's own message, "N tokens; this model reads at most n_ctx"
    const tooLong = tokenIds?.status === "failed" && tokenIds.error?.type === "PromptTooLongError";
    this.tokenCount.classList.toggle("too-long", tooLong);
    if (tooLong) {
      this.tokenCount.textContent = tokenIds.error.traceback.split("\n").pop().replace(/^[\w.]*PromptTooLongError: /, "");
      return;
    }
    const output = tokenIds?.status === "ok" ? tokenIds.output : null; // a Table of one row per token
    const count = output?.kind === "table" ? output.rows?.length : output?.shape?.[0];
    if (count === undefined) return;
    this.tokenCount.textContent = `${count} token${count === 1 ? "" : "s"}`;
  }

  showPrediction(prediction) {
    if (!prediction) {
      this.prediction.textContent = "Next token: run the notebook to see the prediction.";
      delete this.prediction.dataset.tokenId;
      return;
    }
    this.prediction.replaceChildren(
      "Next token: ", el("strong", { testid: "prediction-text", text: showToken(prediction.text) }),
      ` id ${prediction.id}`, prediction.prob !== null && prediction.prob !== undefined
        ? ` · probability ${formatValue(prediction.prob)}` : "");
    this.prediction.dataset.tokenId = String(prediction.id);
    this.prediction.dataset.tokenText = prediction.text;
  }
}
