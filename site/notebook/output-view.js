// A cell's output as Python describes it (the kernel's one output schema): array (a scrollable Grid whose
// cells are fetched from Python as they scroll into view), table, text, tabs of outputs, per-layer outputs,
// and the analysis cells' heatmaps and head patterns (analysis-views.js).
//
//   const outputs = new OutputView(py, selection);
//   outputs.render(view);         // view: a CellView; its state.output, stdout, error
//   outputs.refreshSelection(view);  // after the layer/head selection changed

import { Grid, showToken } from "../grid.js";
import { renderTable } from "../table.js";
import { renderHeadPatterns, renderHeatmap } from "./analysis-views.js";
import { differenceScale } from "./delta-view.js";
import { el } from "./element.js";

function floatsFrom(bytes) {
  const copy = bytes.slice(); // own, aligned buffer
  return new Float32Array(copy.buffer, 0, copy.byteLength / 4);
}

function describeShape(shape, output) {
  const parts = shape.map((n, axis) => (output.heads && axis === 0 ? `${n} heads` : String(n)));
  return `[${parts.join(" × ")}]`;
}

export class OutputView {
  constructor(py, selection) {
    this.py = py;
    this.selection = selection;
  }

  /** Destroy the view's grids (they hold scroll listeners and pending fetches). */
  clear(view) {
    view.grids.forEach((grid) => grid.destroy());
    view.grids = [];
    view.layerViews = [];
  }

  render(view) {
    const { state } = view;
    this.clear(view);
    const parts = [];
    if (state.stdout) parts.push(el("pre", { class: "cell-stream", testid: "cell-stdout", text: state.stdout }));
    if (state.status === "failed" && state.error) {
      parts.push(el("pre", { class: "traceback", testid: "cell-traceback", text: state.error.traceback }));
    } else if (state.output && state.status !== "idle") {
      parts.push(this.renderValue(view, state.output, ""));
    }
    if (state.status === "stale") {
      parts.unshift(el("p", { class: "nb-cell-doc", testid: "stale-note",
        text: "An earlier cell changed or failed: this output is out of date." }));
    }
    view.output.replaceChildren(...parts);
  }

  refreshSelection(view) {
    for (const grid of view.grids) {
      if (grid.output.layered || grid.output.heads) grid.refresh();
    }
    for (const box of view.layerViews) if (box.isConnected) box.refreshLayer();
  }

  renderValue(view, output, path) {
    switch (output.kind) {
      case "array": return this.renderArray(view, output, path);
      case "table": {
        const box = el("div", { class: "nb-table", testid: "table" });
        box.append(renderTable(output, { caption: output.title || undefined }));
        return box;
      }
      case "tabs": return this.renderTabs(view, output, path);
      case "text": return el("pre", { class: "nb-value", testid: "value", text: output.text });
      case "layers": return this.renderLayers(view, output, path);
      case "heatmap": return renderHeatmap(output, this.selection);
      case "head_patterns": return renderHeadPatterns(output, this.selection, async (rows, cols) =>
        floatsFrom(await this.py.notebook.outputSlice(view.id, path, 0, 0, 0, rows, 0, cols)));
      default: return el("span");
    }
  }

  /** Per-layer outputs that are not arrays of one shape: show the selected layer's. */
  renderLayers(view, output, path) {
    const box = el("div", { class: "nb-layers" });
    box.refreshLayer = () => {
      const index = Math.min(this.selection.layer, output.items.length - 1);
      const item = output.items[index];
      box.replaceChildren(el("div", { class: "nb-output-bar" }, el("span", { class: "nb-where", text: `showing layer ${index}` })),
        item ? this.renderValue(view, item, [path, String(index)].filter(Boolean).join("/")) : el("span", { text: "no output for this layer" }));
    };
    box.refreshLayer();
    view.layerViews.push(box);
    return box;
  }

  renderTabs(view, output, path) {
    const box = el("div", { class: "nb-tabbed" });
    const bar = el("span", { class: "nb-tabs", role: "group", "aria-label": "Outputs" });
    const body = el("div");
    const show = (index) => {
      view.tab = index;
      [...bar.children].forEach((button, i) => button.setAttribute("aria-pressed", String(i === index)));
      const item = output.items[index];
      for (const grid of view.grids) grid.destroy();
      view.grids = [];
      body.replaceChildren(this.renderValue(view, item.output, [path, item.name].filter(Boolean).join("/")));
    };
    output.items.forEach((item, index) => {
      const button = el("button", { type: "button", testid: `tab-${item.name}`, text: item.name });
      button.addEventListener("click", () => show(index));
      bar.append(button);
    });
    box.append(el("div", { class: "nb-output-bar" }, el("span", { text: "show" }), bar), body);
    show(Math.min(view.tab || 0, output.items.length - 1));
    return box;
  }

  renderArray(view, output, path) {
    const box = el("div", { class: "nb-array" });
    const shape = el("span", { class: "nb-shape", testid: "shape", text: describeShape(output.shape, output) });
    const where = el("span", { class: "nb-where", testid: "view-of" });
    const bar = el("div", { class: "nb-output-bar" }, shape, where);
    if (output.name) bar.prepend(el("code", { text: output.name }));
    const host = el("div");
    box.append(bar, host);
    const layer = () => (output.layered ? this.selection.layer : 0);
    const head = () => (output.heads ? Math.min(this.selection.head, output.heads - 1) : 0);
    const asked = new Set();
    // A block cell's layers other than the one shown when it ran come without a colour scale (colouring every
    // layer as it ran cost a tenth of a short prompt's run): asked for when shown. A failure to make it is
    // the window's failure too, which the grid shows.
    const outputScale = () => {
      const at = layer();
      if (output.scales[at]) return output.scales[at];
      if (!asked.has(at)) {
        asked.add(at);
        this.py.notebook.outputScale(view.id, path, at).then((scale) => {
          output.scales[at] = scale;
          if (layer() === at && (view.showing || "output") !== "difference") grid.setScale(scale);
        }, () => asked.delete(at));
      }
      return null;
    };
    const options = () => {
      // view.showing: the cell's output, the engine's reference, or their difference (delta-view.js)
      const showing = view.showing || "output";
      const scale = showing === "difference" ? differenceScale(view.state.delta, layer()) : outputScale();
      const parts = [];
      if (output.layered) parts.push(`layer ${layer()}`);
      if (output.heads) parts.push(`head ${head()}`);
      if (showing !== "output") parts.push(showing === "reference" ? "the engine's value" : "output − engine");
      where.textContent = parts.length ? `showing ${parts.join(", ")}` : "";
      return {
        rows: output.rows,
        cols: output.cols,
        rowLabels: output.row_labels || null,
        colLabel: output.col_labels ? (c) => showToken(output.col_labels[c]) : null,
        scale,
        fetch: async (r0, r1, c0, c1) => floatsFrom(await (showing === "output"
          ? this.py.notebook.outputSlice(view.id, path, layer(), head(), r0, r1, c0, c1)
          : this.py.notebook.compareSlice(showing, view.id, path, layer(), head(), r0, r1, c0, c1))),
        // a value clicked: the cell may offer to set it (cell-view.js)
        onSelect: (info) => view.valueSelected?.({ ...info, path, layer: layer(), head: head(), shape: output.shape }),
        describe: output.col_kind === "vocab"
          ? async ({ col }) => `token ${JSON.stringify(await this.py.notebook.tokenText(col))}` : null,
      };
    };
    const grid = new Grid(host, options());
    grid.refresh = () => grid.setData(options());
    grid.output = output;
    view.grids.push(grid);
    if (output.focus) requestAnimationFrame(() => grid.scrollTo(output.focus[0], output.focus[1]));
    return box;
  }
}
