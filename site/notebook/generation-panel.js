// The generation cell's controls: settings, Generate / Stop, and the text as it streams in, token by token.
//
//   const panel = new GenerationPanel(py, host);  cellView.addControls(panel.node);
//   host: {cell(): the generation CellView, runCellsFirst(): Promise (runs up to the generation cell),
//          applyState(state), enqueue(task): Promise, changed(): the buttons' enabled state may have changed}

import { el } from "./element.js";

// Generate asks Python for this long a stretch of tokens per call, each streamed to the page as it is chosen:
// fewer worker round trips than one call per token, and Stop still lands within about this long.
const GENERATE_STRETCH_SECONDS = 0.2;
// The tokens chosen meanwhile are drawn together at most this often: drawing each one as it came (~65 a second
// with GPT-2 small in float16) kept the browser laying out and painting the text, which on a 2-core machine cost
// the worker's decoding ~8 % of its speed; ten draws a second still read as a stream.
const DRAW_EVERY_MS = 100;

function field(label, testid, attributes) {
  const input = el("input", { testid, ...attributes });
  return [input, el("label", {}, label, input)];
}

export class GenerationPanel {
  constructor(py, host) {
    this.py = py;
    this.host = host;
    this.generating = null; // {stopped} while a generation is queued or running
    const [n, nLabel] = field("tokens", "gen-n", { type: "number", min: "1", max: "1024", value: "20" });
    const [temperature, tLabel] = field("temperature", "gen-temperature", { type: "number", min: "0", step: "0.1", value: "0.8" });
    const [topK, kLabel] = field("top-k (0 = off)", "gen-top-k", { type: "number", min: "0", value: "40" });
    const [topP, pLabel] = field("top-p (1 = off)", "gen-top-p", { type: "number", min: "0", max: "1", step: "0.05", value: "0.95" });
    const [seed, sLabel] = field("seed (empty = random)", "gen-seed", { type: "number", value: "0" });
    this.inputs = { n, temperature, topK, topP, seed };
    this.generateButton = el("button", { type: "button", testid: "generate", text: "Generate" });
    this.stopButton = el("button", { type: "button", class: "danger", testid: "stop-generate", text: "Stop", disabled: true });
    this.state = el("span", { class: "nb-gen-state", testid: "generate-state", role: "status" });
    this.text = el("div", { class: "nb-generated", testid: "generated-text", "aria-live": "polite" });
    this.generateButton.addEventListener("click", () => this.generate());
    this.stopButton.addEventListener("click", () => this.stop());
    this.node = el("div", {},
      el("div", { class: "nb-generate", role: "group", "aria-label": "Generation settings" },
        nLabel, tLabel, kLabel, pLabel, sLabel, this.generateButton, this.stopButton, this.state),
      this.text);
  }

  /** The settings as generate_begin takes them. */
  readSettings() {
    const { n, temperature, topK, topP, seed } = this.inputs;
    const number = (input, fallback) => (input.value.trim() === "" ? fallback : Number(input.value));
    const k = number(topK, 0);
    const p = number(topP, 1);
    return {
      max_new_tokens: Math.max(1, Math.floor(number(n, 20))),
      temperature: number(temperature, 1),
      top_k: k > 0 ? Math.floor(k) : null,
      top_p: p < 1 ? p : null,
      seed: seed.value.trim() === "" ? null : Math.floor(Number(seed.value)),
    };
  }

  setEnabled(open) {
    this.generateButton.disabled = !open || Boolean(this.generating);
    this.stopButton.disabled = !this.generating;
  }

  generate() {
    if (this.generating || this.generateButton.disabled) return;
    const token = { stopped: false };
    this.generating = token;
    this.state.dataset.state = "running"; // until "done" or "failed": a second run must not look finished
    this.state.textContent = "waiting…";
    this.host.changed();
    return this.host.enqueue(() => this.run(token));
  }

  stop() {
    if (this.generating) this.generating.stopped = true;
  }

  async run(token) {
    try {
      const view = this.host.cell();
      if (view.state.status !== "ok" || view.editor.getValue() !== view.ran) {
        this.state.textContent = "running the cells first…";
        await this.host.runCellsFirst();
        if (this.host.cell().state.status !== "ok") {
          this.state.textContent = "the generation cell must run without errors first";
          this.state.dataset.state = "failed";
          return;
        }
      }
      await this.stream(token);
      this.state.dataset.state = "done";
    } catch (error) {
      if (error.pythonType !== "RuntimeRestarted") this.state.textContent = `generation failed: ${error.message}`;
      this.state.dataset.state = "failed";
    } finally {
      if (this.generating === token) this.generating = null;
      this.host.changed();
    }
  }

  async stream(token) {
    const settings = this.readSettings();
    const begun = await this.py.notebook.generateBegin(settings);
    this.text.replaceChildren(el("span", { class: "prompt-part", text: begun.prompt_text }));
    delete this.text.dataset.ids;
    // asked for more than the context window holds: Generate stops at its end, and says so when it gets there
    const contextEnds = begun.max_new_tokens < settings.max_new_tokens;
    if (contextEnds) this.state.textContent = `${begun.max_new_tokens} tokens fit in the context window`;
    const started = performance.now();
    const drawn = []; // the ids of the tokens drawn so far
    let chosen = []; // tokens the worker sent that are not drawn yet
    let drawTimer = null;
    const draw = () => {
      drawTimer = null;
      if (!chosen.length) return;
      const steps = chosen;
      chosen = [];
      this.text.append(...steps.map((step) => el("span", { class: "new-token", title: `id ${step.id}`, text: step.text })));
      drawn.push(...steps.map((step) => step.id));
      this.text.dataset.ids = drawn.join(",");
      const count = drawn.length;
      const seconds = (performance.now() - started) / 1000;
      this.state.textContent = `${count} token${count === 1 ? "" : "s"} · ${(count / seconds).toFixed(1)} tokens/s`;
    };
    const show = (step) => {
      chosen.push(step);
      drawTimer ??= setTimeout(draw, DRAW_EVERY_MS);
    };
    try {
      while (!token.stopped) {
        const stretch = await this.py.notebook.generateFor(GENERATE_STRETCH_SECONDS, show);
        if (stretch.done) break;
      }
    } finally {
      clearTimeout(drawTimer);
      draw();
    }
    const finished = await this.py.notebook.generateEnd();
    if (finished.text !== undefined) this.text.dataset.text = finished.text;
    if (finished.state) this.host.applyState(finished.state);
    this.state.textContent += token.stopped ? " · stopped" : " · done";
    if (!token.stopped && contextEnds && drawn.length === begun.max_new_tokens) {
      this.state.textContent += `: the context window (n_ctx = ${begun.n_ctx}) is full`;
    }
  }
}
