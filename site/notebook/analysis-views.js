// The analysis cells' pictures (gpt2cells.notebook.figures): a heatmap table sent whole, and every attention
// head's pattern as small multiples. A head in either can be clicked: the page's ViewSelection then shows
// that layer and head in the block cells (selection.reveal), which is all these views know of the rest.
//
//   renderHeatmap(output, selection)                      // output.kind === "heatmap"
//   renderHeadPatterns(output, selection, fetchFloats)    // output.kind === "head_patterns"

import { formatValue, heatColor, showToken } from "../grid.js";
import { el } from "./element.js";

const PATTERN_PIXELS = 56; // a small multiple's side on screen, whatever the prompt's length

/** A label that may be a token (" quick", "\n"): its edge spaces and control characters made visible, not "head 0"'s. */
function showLabel(text) {
  const label = String(text);
  const inner = label.trim();
  if (!inner) return showToken(label);
  const start = label.indexOf(inner);
  return showToken(label.slice(0, start)) + inner.replace(/[\n\t\r]/g, (c) => showToken(c)) +
    showToken(label.slice(start + inner.length));
}

/** Keep `mark` in step with the selection while `node` is on the page. */
function followSelection(node, selection, mark) {
  const follow = () => {
    if (!node.isConnected) selection.removeEventListener("change", follow);
    else mark();
  };
  selection.addEventListener("change", follow);
  mark();
}

function headControl(node, layer, head, selection) {
  node.dataset.layer = String(layer);
  node.dataset.head = String(head);
  node.title = `layer ${layer}, head ${head}: click to show it in the attention cells`;
  node.addEventListener("click", () => selection.reveal(layer, head));
  return node;
}

function markSelected(container, selection) {
  for (const node of container.querySelectorAll("[data-head]")) {
    const chosen = Number(node.dataset.layer) === selection.layer && Number(node.dataset.head) === selection.head;
    node.setAttribute("aria-pressed", String(chosen));
  }
}

/** {title, rows, cols, row_labels, col_labels, values, text, heads, scale}: a table of coloured cells. */
export function renderHeatmap(output, selection) {
  const table = el("table", { class: "nb-heatmap" });
  if (output.title) table.createCaption().textContent = output.title;
  const header = table.createTHead().insertRow();
  header.append(el("th", { scope: "col" }));
  for (let c = 0; c < output.cols; c++) {
    header.append(el("th", { scope: "col", text: output.col_labels ? showLabel(output.col_labels[c]) : String(c) }));
  }
  const body = table.createTBody();
  for (let r = 0; r < output.rows; r++) {
    const row = body.insertRow();
    row.append(el("th", { scope: "row", text: output.row_labels ? showLabel(output.row_labels[r]) : String(r) }));
    for (let c = 0; c < output.cols; c++) {
      const value = toNumber(output.values[r][c]);
      const text = output.text ? showToken(output.text[r][c]) : formatValue(value);
      const label = `${output.row_labels?.[r] ?? r}, ${output.col_labels?.[c] ?? c}: ${value}`;
      const cell = c < output.heads
        ? headControl(el("td", { role: "button", tabindex: "0", testid: "heatmap-head" }), r, c, selection)
        : el("td");
      cell.textContent = text;
      cell.title = c < output.heads ? `${label}\n${cell.title}` : label;
      const { background, color } = heatColor(value, output.scale);
      cell.style.background = background;
      cell.style.color = color;
      row.append(cell);
    }
  }
  const box = el("div", { class: "nb-heatmap-box", testid: "heatmap" }, table);
  box.addEventListener("keydown", (event) => {
    if ((event.key === "Enter" || event.key === " ") && event.target.dataset.head !== undefined) {
      event.preventDefault();
      event.target.click();
    }
  });
  if (output.heads) followSelection(box, selection, () => markSelected(box, selection));
  return box;
}

function toNumber(value) {
  if (typeof value === "number") return value;
  return { nan: NaN, inf: Infinity, "-inf": -Infinity }[value] ?? NaN;
}

/**
 * {title, n_layer, n_head, n_seq, size}: every head's pattern, layers top to bottom, heads left to right.
 * fetchFloats(rows, cols) resolves to the [n_layer · n_head · size, size] patterns, row-major.
 */
export function renderHeadPatterns(output, selection, fetchFloats) {
  const { n_layer: nLayer, n_head: nHead, size } = output;
  const grid = el("div", { class: "nb-head-patterns", role: "group", "aria-label": "attention patterns of every head" });
  grid.style.gridTemplateColumns = `auto repeat(${nHead}, ${PATTERN_PIXELS}px)`;
  grid.append(el("span"));
  for (let h = 0; h < nHead; h++) grid.append(el("span", { class: "nb-head-label", text: `head ${h}` }));
  const canvases = [];
  for (let layer = 0; layer < nLayer; layer++) {
    grid.append(el("span", { class: "nb-head-label", text: `layer ${layer}` }));
    for (let head = 0; head < nHead; head++) {
      const canvas = el("canvas", { width: String(size), height: String(size) });
      canvases.push(canvas);
      grid.append(headControl(el("button", { type: "button", class: "nb-head-pattern", testid: "head-pattern" },
        canvas), layer, head, selection));
    }
  }
  const note = output.n_seq > size ? ` (${output.n_seq} tokens shown as ${size} × ${size} block means)` : "";
  const box = el("div", { class: "nb-head-patterns-box", testid: "head-patterns" },
    el("div", { class: "nb-output-bar" }, el("span", { text: (output.title || "") + note })), grid);
  box.dataset.loaded = "false";
  followSelection(box, selection, () => markSelected(box, selection));
  fetchFloats(nLayer * nHead * size, size).then((values) => {
    canvases.forEach((canvas, index) => drawPattern(canvas, values.subarray(index * size * size, (index + 1) * size * size), size));
    box.dataset.loaded = "true";
  }).catch((error) => {
    box.append(el("p", { class: "nb-cell-doc", text: `The patterns could not be fetched: ${error.message}` }));
  });
  return box;
}

const PATTERN_SCALE = { kind: "range", lo: 0, hi: 1 }; // attention weights: each row sums to 1

function drawPattern(canvas, values, size) {
  const context = canvas.getContext("2d");
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      context.fillStyle = heatColor(values[row * size + col], PATTERN_SCALE).background;
      context.fillRect(col, row, 1, 1);
    }
  }
}
