// The outline of the notebook's steps (tokenize → embed → block × n_layer → final norm → logits → next token,
// then analysis), one link per cell, grouped as the notebook groups them, each marked failed / stale / edited.
// It draws the notebook's "cells" events; a click is announced as a "jump" event ({id}) that app.js forwards.
//
//   const outline = new Outline(document.getElementById("outline"));
//   outline.show({cells: [{id, title, group, status, edited}], groups: [{id, title}], model: {n_layer}});
//
// A group (the transformer block) is one line, "block × n_layer", that opens to its cells; it opens by itself
// when one of them failed, is stale or edited, so a mark is never hidden.

const MARKS = { failed: "✗ failed", stale: "stale", running: "running…", queued: "queued" };

function node(tag, className, text) {
  const made = document.createElement(tag);
  if (className) made.className = className;
  if (text !== undefined) made.textContent = text;
  return made;
}

export class Outline extends EventTarget {
  constructor(root) {
    super();
    this.root = root;
    this.key = "";
    this.opened = new Set(); // groups the learner opened: they stay open as the outline redraws
  }

  show({ cells, groups, model }) {
    const key = JSON.stringify(cells);
    if (key === this.key) return;
    this.key = key;
    if (!cells.length) {
      this.root.replaceChildren();
      return;
    }
    const list = node("ol");
    let groupList = null;
    let groupId = null;
    for (const cell of cells) {
      if (cell.group !== groupId) {
        groupId = cell.group;
        groupList = null;
        if (groupId) {
          const group = groups.find((g) => g.id === groupId);
          const members = cells.filter((c) => c.group === groupId);
          const details = node("details");
          details.open = this.opened.has(groupId) ||
            members.some((c) => c.edited || c.status === "failed" || c.status === "stale");
          details.addEventListener("toggle", () => {
            if (details.open) this.opened.add(groupId);
            else this.opened.delete(groupId);
          });
          // the block runs once per layer: say how many times
          const title = groupId === "block" && model?.n_layer ? `Transformer block × ${model.n_layer}` : group?.title || groupId;
          const marks = [...new Set(members.map((c) => MARKS[c.status]).filter(Boolean))].join(" · ");
          const summary = node("summary", "", title);
          if (marks) summary.append(node("span", "outline-mark", marks));
          groupList = node("ol");
          details.append(summary, groupList);
          const item = node("li", "outline-group");
          item.dataset.testid = `outline-group-${groupId}`;
          item.append(details);
          list.append(item);
        }
      }
      (groupList || list).append(this.item(cell));
    }
    this.root.replaceChildren(node("h2", "", "Steps"), list);
  }

  item(cell) {
    const item = node("li");
    item.dataset.status = cell.status || "idle";
    item.dataset.testid = `outline-${cell.id}`;
    const link = node("a");
    link.href = `#cell-${cell.id}`;
    link.append(node("span", "outline-title", cell.title));
    const marks = [MARKS[cell.status], cell.edited ? "edited" : null].filter(Boolean).join(" · ");
    if (marks) link.append(node("span", "outline-mark", marks));
    link.addEventListener("click", (event) => {
      event.preventDefault(); // the fragment may hold a share link; never replace it
      this.dispatchEvent(new CustomEvent("jump", { detail: { id: cell.id } }));
    });
    item.append(link);
    return item;
  }
}
