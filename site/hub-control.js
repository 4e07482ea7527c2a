// "Download GPT-2 from Hugging Face": a repo id (three suggested), the host it will contact, a button, and the
// download's progress. It only asks: a click emits "download" {repo, hubBase} (and Cancel "cancel"); the models
// panel downloads (hub-download.js), imports and reports back through showListing / showProgress / showIdle.
//
// The hub is a setting (kept in localStorage) and the `?hub=URL` query parameter (mirrors, tests); nothing is
// contacted before a click.

import { DEFAULT_HUB } from "./hub-download.js";
import { formatBytes } from "./weights-store.js";

const HUB_SETTING = "gpt2cells.hub";
export const SUGGESTED_REPOS = [
  ["openai-community/gpt2", "GPT-2 small · 124M parameters"],
  ["openai-community/gpt2-medium", "GPT-2 medium · 355M parameters"],
  ["distilbert/distilgpt2", "DistilGPT-2 · 82M parameters"],
];

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") node.textContent = value;
    else if (value === true) node.setAttribute(key, "");
    else if (value !== false && value != null) node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

/** The hub the page would contact: ?hub=URL, else the saved setting, else huggingface.co. */
export function configuredHub() {
  const fromQuery = new URLSearchParams(location.search).get("hub");
  return fromQuery || localStorage.getItem(HUB_SETTING) || DEFAULT_HUB;
}

function hostOf(url) {
  try { return new URL(url).host; } catch { return url; }
}

function duration(seconds) {
  if (!Number.isFinite(seconds)) return "";
  if (seconds < 90) return `${Math.ceil(seconds)} s left`;
  return `${Math.ceil(seconds / 60)} min left`;
}

export class HubControl extends EventTarget {
  constructor() {
    super();
    this.repo = element("input", { type: "text", list: "hub-suggestions", value: SUGGESTED_REPOS[0][0],
      "data-testid": "hub-repo", spellcheck: "false", autocomplete: "off", "aria-label": "Hugging Face repo id" });
    const suggestions = element("datalist", { id: "hub-suggestions" },
      ...SUGGESTED_REPOS.map(([id, label]) => element("option", { value: id, label })));
    this.button = element("button", { type: "button", "data-testid": "hub-download", text: "Download" });
    this.host = element("span", { class: "hub-host", "data-testid": "hub-host" });
    this.base = element("input", { type: "url", "data-testid": "hub-base", "aria-label": "Hub address",
      spellcheck: "false" });
    this.progressLabel = element("span", { class: "progress-label", "data-testid": "hub-progress-label" });
    this.progressBar = element("progress", { max: "100", value: "0", "aria-label": "download progress" });
    this.cancelButton = element("button", { type: "button", "data-testid": "hub-cancel", text: "Cancel" });
    this.progress = element("div", { class: "hub-progress", "data-testid": "hub-progress", hidden: true,
      role: "status" }, this.progressLabel, this.progressBar, this.cancelButton);
    this.element = element("div", { class: "hub", "data-testid": "hub" },
      element("strong", { text: "Download GPT-2 from Hugging Face" }),
      element("div", { class: "hub-row" }, this.repo, suggestions, this.button),
      this.host,
      element("details", { class: "hub-settings" }, element("summary", { text: "Hub address" }), this.base),
      this.progress);
    this.setHub(configuredHub());
    this.button.addEventListener("click", () => this.request());
    this.cancelButton.addEventListener("click", () => this.dispatchEvent(new Event("cancel")));
    this.repo.addEventListener("keydown", (event) => { if (event.key === "Enter") this.request(); });
    this.base.addEventListener("change", () => {
      const value = this.base.value.trim();
      if (value && value !== DEFAULT_HUB) localStorage.setItem(HUB_SETTING, value);
      else localStorage.removeItem(HUB_SETTING);
      this.setHub(value || DEFAULT_HUB);
    });
  }

  setHub(url) {
    this.hubBase = url;
    this.base.value = url;
    this.host.textContent = `Contacts ${hostOf(url)} (and the download host it redirects to) only when you ` +
      "click Download; the weights are converted and kept in this browser.";
  }

  request() {
    if (this.button.disabled) return;
    this.dispatchEvent(new CustomEvent("download", { detail: { repo: this.repo.value.trim(), hubBase: this.hubBase } }));
  }

  setDisabled(disabled) {
    this.button.disabled = disabled;
  }

  showAsking(repo, hubBase) {
    this.progress.hidden = false;
    this.progressBar.removeAttribute("value"); // indeterminate until the sizes are known
    this.progressLabel.textContent = `Asking ${hostOf(hubBase)} which files ${repo} has…`;
  }

  showListing({ repo, host, files, total }) {
    this.progress.hidden = false;
    this.progressBar.value = 0;
    this.progressLabel.textContent = `${repo}: ${formatBytes(total)} from ${host} ` +
      `(${files.map((file) => file.name).join(", ")})`;
  }

  showProgress({ file, loaded, total, bytesPerSecond, secondsLeft }) {
    this.progressBar.value = total ? Math.floor((loaded / total) * 100) : 0;
    this.progressLabel.textContent = [`Downloading ${file}`, `${formatBytes(loaded)} of ${formatBytes(total)}`,
      bytesPerSecond ? `${(bytesPerSecond / 1e6).toFixed(1)} MB/s` : "", duration(secondsLeft)]
      .filter(Boolean).join(" · ");
  }

  showIdle() {
    this.progress.hidden = true;
  }
}
