// The box around a group of cells (the transformer block): its title, doc, and the layer / head choosers
// that set the page's ViewSelection; and the heading of a part of the notebook (Analysis).

import { el } from "./element.js";

function chooser(testid, label, count, text, selected, onChange) {
  const select = el("select", { testid, "aria-label": label });
  for (let i = 0; i < count; i++) select.append(el("option", { value: String(i), text: `${text} ${i}` }));
  select.value = String(selected);
  select.addEventListener("change", () => onChange(Number(select.value)));
  return select;
}

/** group: {id, title, doc}; model: {n_layer, n_head}. The choosers follow the selection while they are on the page. */
export function groupBox(group, model, selection) {
  const layer = chooser("layer-select", "Layer shown", model.n_layer, "layer", selection.layer,
    (value) => selection.select(value, selection.head));
  const head = chooser("head-select", "Attention head shown", model.n_head, "head", selection.head,
    (value) => selection.select(selection.layer, value));
  // one click zeroes the shown head's output in the weighted-values step (a visible line; the notebook adds it)
  const ablate = el("button", { type: "button", testid: "ablate-head", text: "ablate",
    title: "Zero this head's output at this layer: adds a line to the Weighted values cell (again: removes it)" });
  ablate.addEventListener("click", () => box.dispatchEvent(new CustomEvent("ablate-head", { bubbles: true,
    detail: { layer: selection.layer, head: selection.head } })));
  const follow = () => {
    if (!box.isConnected) return selection.removeEventListener("change", follow);
    layer.value = String(selection.layer);
    head.value = String(selection.head);
  };
  const box = el("div", { class: "nb-group", testid: `group-${group.id}`, role: "group", "aria-label": group.title },
    el("div", { class: "nb-group-head" },
      el("h3", { text: group.title }),
      el("label", {}, "show ", layer),
      el("label", {}, "attention ", head), ablate),
    el("p", { class: "nb-group-doc", text: group.doc }));
  box.dataset.group = group.id;
  selection.addEventListener("change", follow);
  return box;
}

/** part: {id, title, doc}: a heading above the part's first cell. */
export function partHeading(part) {
  return el("div", { class: "nb-part", testid: `part-${part.id}`, role: "heading", "aria-level": "2" },
    el("h2", { text: part.title }), el("p", { class: "nb-group-doc", text: part.doc }));
}
