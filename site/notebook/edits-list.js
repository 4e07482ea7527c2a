// The edits: which cells' code differs from the default, each with Reset, and Reset all. The notebook feeds it
// the same cell list it announces to the outline.
//
//   const edits = new EditsList({reset: (id) => ..., resetAll: () => ...});  edits.show(cells);

import { el } from "./element.js";

export class EditsList {
  constructor({ reset, resetAll }) {
    this.reset = reset;
    this.list = el("ul", { class: "nb-edits-items" });
    const all = el("button", { type: "button", testid: "edits-reset-all", text: "Reset all",
      title: "Put back every cell's original code and run the notebook again" });
    all.addEventListener("click", () => resetAll());
    this.count = el("strong");
    this.node = el("div", { class: "nb-edits", testid: "edits-list", role: "region", "aria-label": "Edits", hidden: true },
      this.count, this.list, all);
  }

  /** cells: [{id, title, edited}] in notebook order. */
  show(cells) {
    const edited = cells.filter((cell) => cell.edited);
    this.node.hidden = edited.length === 0;
    this.count.textContent = `${edited.length} edited cell${edited.length === 1 ? "" : "s"}: `;
    this.list.replaceChildren(...edited.map((cell) => {
      const button = el("button", { type: "button", testid: "edit-reset", text: "Reset", title: `Put back ${cell.title}'s original code` });
      button.addEventListener("click", () => this.reset(cell.id));
      return el("li", { testid: `edit-${cell.id}` }, el("span", { text: cell.title }), " ", button);
    }));
  }
}
