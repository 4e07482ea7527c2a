// The learner's edits, per model, in localStorage: {sources: {cellId: code}} for cells that differ from
// their default code. A model is known by its name and config, so a reload keeps the edits.
//
//   const edits = new SavedEdits(() => editedSources(), (error) => show(error));
//   edits.forModel(info); edits.load(); edits.schedule(); edits.saveNow();

const STORAGE_PREFIX = "gpt2cells.notebook.v1:";
const SAVE_DELAY_MS = 250;

export class SavedEdits {
  /** collect() → {cellId: code} of the edited cells; failed(error) when the browser refuses to store them. */
  constructor(collect, failed) {
    this.collect = collect;
    this.failed = failed;
    this.key = null;
    this.timer = 0;
  }

  forModel(info) {
    this.key = STORAGE_PREFIX + `${info.name}|${JSON.stringify(info.config)}`;
  }

  /** The saved {cellId: code} of the model ({} when none or unreadable). */
  load() {
    try {
      return JSON.parse(localStorage.getItem(this.key) || "{}").sources || {};
    } catch {
      return {};
    }
  }

  schedule() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.saveNow(), SAVE_DELAY_MS);
  }

  saveNow() {
    clearTimeout(this.timer);
    if (!this.key) return;
    const sources = this.collect();
    try {
      if (Object.keys(sources).length) localStorage.setItem(this.key, JSON.stringify({ sources }));
      else localStorage.removeItem(this.key);
    } catch (error) {
      this.failed(error);
    }
  }
}
