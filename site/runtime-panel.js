// The runtime section of the page: boot status line, boot stages, versions, a boot error's traceback, and
// the Restart Python button. It shows the runtime's "status" events; Restart is forwarded to the runtime.
//
//   const panel = new RuntimePanel(document.getElementById("runtime"), restartButton, runtime);
//   panel.boot();   // after a (re)start: shows the versions when the runtime is ready

const STAGES = ["runtime", "numpy", "regex", "gpt2cells", "ready"];
const VERSIONS = ["python", "numpy", "regex", "pyodide", "matmul"];

export class RuntimePanel {
  constructor(root, restartButton, runtime) {
    this.runtime = runtime;
    this.statusLine = root.querySelector("#runtime-status");
    this.stageItems = new Map([...root.querySelectorAll("#runtime-stages li")].map((li) => [li.dataset.stage, li]));
    this.versionsBox = root.querySelector("#runtime-versions");
    this.errorBox = root.querySelector("#runtime-error");
    this.restartButton = restartButton;
    runtime.addEventListener("status", (event) => this.showStatus(event.detail));
    restartButton.addEventListener("click", () => {
      runtime.restart();
      this.boot();
    });
  }

  async boot() {
    this.versionsBox.hidden = true;
    this.errorBox.hidden = true;
    this.restartButton.disabled = false;
    try {
      this.showVersions(await this.runtime.ready);
    } catch {
      // the status line already shows the failure
    }
  }

  markStages(activeStage, failed = false) {
    const activeIndex = STAGES.indexOf(activeStage);
    STAGES.forEach((stage, index) => {
      const item = this.stageItems.get(stage);
      if (index < activeIndex || (stage === "ready" && activeStage === "ready")) item.dataset.state = "done";
      else if (index === activeIndex) item.dataset.state = failed ? "failed" : "active";
      else delete item.dataset.state;
    });
  }

  showStatus(detail) {
    if (detail.stage === "error") {
      this.statusLine.dataset.state = "error";
      this.statusLine.textContent = `Python runtime failed while loading ${detail.failedStage}: ${detail.message}`;
      this.markStages(detail.failedStage, true);
      this.errorBox.textContent = detail.error.traceback || detail.message;
      this.errorBox.hidden = false;
      this.restartButton.disabled = false;
      return;
    }
    this.statusLine.dataset.state = detail.stage === "ready" ? "ready" : "loading";
    this.statusLine.textContent = detail.stage === "ready" ? "Python runtime: ready" : `Python runtime: ${detail.message}…`;
    this.markStages(detail.stage);
  }

  showVersions(versions) {
    for (const name of VERSIONS) {
      this.versionsBox.querySelector(`[data-testid="${name}-version"]`).textContent = versions[name];
    }
    this.versionsBox.hidden = false;
  }
}
