// The page's one-line state: the Python runtime and the active model ("gpt2 — 12 layers, … — ready"), with a
// Details button for the panels that say more. It listens to the runtime's "status" events and the model
// loader's events; Details is announced as a "details" event ({open}) that app.js acts on.
//
//   const line = new StatusLine(document.getElementById("status-line"), runtime, loader);

import { describeConfig } from "./weights-manifest.js";

function part(className) {
  const node = document.createElement("span");
  node.className = `status-part ${className}`;
  return node;
}

export class StatusLine extends EventTarget {
  constructor(root, runtime, loader) {
    super();
    this.runtimePart = part("status-runtime");
    this.runtimePart.dataset.testid = "status-runtime";
    this.modelPart = part("status-model");
    this.modelPart.dataset.testid = "status-model";
    this.detailsButton = document.createElement("button");
    this.detailsButton.type = "button";
    this.detailsButton.className = "secondary";
    this.detailsButton.dataset.testid = "status-details";
    this.detailsButton.setAttribute("aria-expanded", "false");
    this.detailsButton.textContent = "Details";
    this.detailsButton.addEventListener("click", () => this.setOpen(this.detailsButton.getAttribute("aria-expanded") !== "true"));
    root.replaceChildren(this.runtimePart, this.modelPart, this.detailsButton);
    this.show(this.runtimePart, "loading", "Python: starting…");
    this.show(this.modelPart, "none", "no model");

    runtime.addEventListener("status", ({ detail }) => {
      if (detail.stage === "error") this.show(this.runtimePart, "error", `Python failed (${detail.failedStage})`);
      else if (detail.stage === "ready") this.show(this.runtimePart, "ready", "Python ready");
      else this.show(this.runtimePart, "loading", `Python: ${detail.stage}…`);
    });
    loader.addEventListener("load-start", () => this.show(this.modelPart, "loading", "loading a model…"));
    loader.addEventListener("load-progress", ({ detail }) => {
      const percent = detail.total ? ` ${Math.floor((detail.done / detail.total) * 100)}%` : "";
      this.show(this.modelPart, "loading", `loading ${detail.name}${percent}…`);
    });
    loader.addEventListener("load-end", ({ detail }) => {
      if (detail.outcome === "loaded") {
        this.show(this.modelPart, "ready", `${detail.name} — ${describeConfig(detail.config)} — ready`);
      } else if (detail.outcome === "failed") this.show(this.modelPart, "error", `${detail.name} could not be loaded`);
      else if (detail.outcome === "cancelled") this.show(this.modelPart, "none", "no model (loading cancelled)");
    });
    loader.addEventListener("model-gone", () => {
      if (this.modelPart.dataset.state === "ready") this.show(this.modelPart, "none", "no model");
    });
  }

  show(node, state, text) {
    node.dataset.state = state;
    node.textContent = text;
  }

  setOpen(open) {
    this.detailsButton.setAttribute("aria-expanded", String(open));
    this.dispatchEvent(new CustomEvent("details", { detail: { open } }));
  }
}
