// A spreadsheet-like view of one 2-D array that lives in the worker: only the visible window is in the DOM
// and only the tiles around it are fetched, so a [T × 50257] logits table scrolls like a [T × 8] one.

const ROW_HEIGHT = 22;
const COL_WIDTH = 62;
const HEADER_HEIGHT = 22;
const TILE_ROWS = 32;
const TILE_COLS = 48;
const OVERSCAN_ROWS = 4;
const OVERSCAN_COLS = 6;
const MAX_CACHED_TILES = 256;
const MAX_IN_FLIGHT = 2;
const MAX_VIEW_HEIGHT = 330;

/** How a token reads in a label: the whitespace GPT-2 folds into tokens made visible. */
export function showToken(text) {
  return String(text).replace(/ /g, "␣").replace(/\n/g, "↵").replace(/\t/g, "⇥").replace(/\r/g, "␍");
}

/** A value in at most ~7 characters, so a column stays narrow. */
export function formatValue(v) {
  if (v === undefined || v === null) return "";
  if (Number.isNaN(v)) return "nan";
  if (v === Infinity) return "∞";
  if (v === -Infinity) return "−∞";
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a < 1e-3 || a >= 1e5) return v.toExponential(1).replace("e+", "e");
  if (a < 10) return v.toFixed(3);
  if (a < 100) return v.toFixed(2);
  if (a < 1000) return v.toFixed(1);
  return v.toFixed(0);
}

const POSITIVE = [214, 69, 49];
const NEGATIVE = [44, 105, 214];
const SEQUENTIAL = [106, 61, 186];

/**
 * Heatmap background (and a readable text colour) for v. scale: {kind: "diverging", span} colours by sign
 * and |v| / span; {kind: "range", lo, hi} darkens from lo to hi (probabilities, all-negative logits).
 */
export function heatColor(v, scale) {
  if (!Number.isFinite(v)) return { background: "var(--masked-bg)", color: "var(--muted)" };
  let t;
  let base;
  if (scale.kind === "range") {
    const width = scale.hi - scale.lo || 1;
    t = Math.min(1, Math.max(0, (v - scale.lo) / width));
    base = SEQUENTIAL;
  } else {
    t = Math.min(1, Math.abs(v) / (scale.span || 1));
    base = v < 0 ? NEGATIVE : POSITIVE;
  }
  const mix = (c) => Math.round(255 + (c - 255) * Math.pow(t, 0.75));
  return {
    background: `rgb(${mix(base[0])}, ${mix(base[1])}, ${mix(base[2])})`,
    color: t > 0.6 ? "#fff" : "var(--text)",
  };
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class Grid {
  /**
   * host: element to fill. options:
   *   rows, cols            shape of the 2-D view
   *   rowLabels             strings, one per row (tokens); default: the row index
   *   colLabel(c)           optional column header text; default: the column index
   *   fetch(r0,r1,c0,c1)    Promise of a Float32Array, row-major, (r1-r0)·(c1-c0) values
   *   scale                 {kind: "diverging", span} | {kind: "range", lo, hi}; null: uncoloured (setScale)
   *   onSelect(info)        {row, col, value, rowLabel}
   *   describe(info)        optional: extra text for the selection line (e.g. a vocab column's token)
   */
  constructor(host, options) {
    this.host = host;
    this.root = el("div", "grid");
    this.viewport = el("div", "grid-viewport");
    this.viewport.tabIndex = 0;
    this.viewport.setAttribute("role", "grid");
    this.head = el("div", "grid-head");
    this.corner = el("div", "grid-corner");
    this.colHeads = el("div", "grid-colheads");
    this.head.append(this.corner, this.colHeads);
    this.body = el("div", "grid-body");
    this.rowHeads = el("div", "grid-rowheads");
    this.cellsLayer = el("div", "grid-cells");
    this.body.append(this.rowHeads, this.cellsLayer);
    this.viewport.append(this.head, this.body);
    this.status = el("div", "grid-selection");
    this.status.dataset.testid = "cell-selection";
    this.root.append(this.viewport, this.goToBox(), this.status);
    host.append(this.root);

    this.rendered = new Map(); // "r,c" -> cell element
    this.renderedRows = new Map(); // r -> row label element
    this.renderedCols = new Map(); // c -> column header element
    this.tiles = new Map(); // "tr,tc" -> Float32Array
    this.pending = new Set();
    this.queue = [];
    this.inFlight = 0;
    this.generation = 0;
    this.selected = null;
    this.frame = 0;

    this.viewport.addEventListener("scroll", () => this.schedule(), { passive: true });
    this.cellsLayer.addEventListener("click", (event) => {
      const target = event.target.closest(".grid-cell");
      if (target) this.select(Number(target.dataset.row), Number(target.dataset.col));
    });
    this.viewport.addEventListener("keydown", (event) => this.onKey(event));
    this.resizeObserver = new ResizeObserver(() => this.schedule());
    this.resizeObserver.observe(this.viewport);
    this.setData(options);
  }

  /** New data (another layer or head, or a rerun): keep the scroll position, drop cached values. */
  setData(options) {
    this.options = { ...this.options, ...options };
    const { rows, cols } = this.options;
    this.rows = rows;
    this.cols = cols;
    this.generation += 1;
    this.tiles.clear();
    this.pending.clear();
    this.queue = [];
    const labelWidth = this.labelWidth();
    this.labelW = labelWidth;
    this.root.style.setProperty("--label-width", `${labelWidth}px`);
    this.head.style.width = `${labelWidth + cols * COL_WIDTH}px`;
    this.body.style.width = `${labelWidth + cols * COL_WIDTH}px`;
    this.colHeads.style.width = `${cols * COL_WIDTH}px`;
    this.cellsLayer.style.width = `${cols * COL_WIDTH}px`;
    this.cellsLayer.style.height = `${rows * ROW_HEIGHT}px`;
    this.rowHeads.style.height = `${rows * ROW_HEIGHT}px`;
    this.viewport.style.maxHeight = `${MAX_VIEW_HEIGHT}px`;
    for (const map of [this.rendered, this.renderedRows, this.renderedCols]) {
      for (const node of map.values()) node.remove();
      map.clear();
    }
    if (this.selected && (this.selected.row >= rows || this.selected.col >= cols)) this.selected = null;
    this.render();
    if (this.selected) this.select(this.selected.row, this.selected.col, false);
    else this.status.textContent = "Click a value to see its row, column and exact value.";
  }

  /** "Go to" a row and column (e.g. "1000, 50256" or "1000" or ", 50256"): a [1024 × 50257] table is too
   * big to scroll to a far value by hand. */
  goToBox() {
    const input = el("input", "grid-goto-input");
    Object.assign(input, { type: "text", placeholder: "row, col", size: 11 });
    input.setAttribute("aria-label", "Go to row, column");
    input.dataset.testid = "grid-goto";
    const form = el("form", "grid-goto");
    form.append(el("span", "", "go to "), input);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const [rowText = "", colText = ""] = input.value.split(",");
      const pick = (text, current, count) => {
        const n = Number.parseInt(text.trim(), 10);
        return Number.isFinite(n) ? Math.max(0, Math.min(count - 1, n)) : current;
      };
      const row = pick(rowText, this.selected?.row ?? 0, this.rows);
      const col = pick(colText, this.selected?.col ?? 0, this.cols);
      this.scrollTo(row, col);
      this.select(row, col);
    });
    return form;
  }

  labelWidth() {
    const labels = this.options.rowLabels || [];
    let longest = String(this.rows - 1).length;
    for (const label of labels) longest = Math.max(longest, String(label).length + String(this.rows).length + 1);
    return Math.min(180, Math.max(44, 12 + longest * 7.4));
  }

  rowLabel(r) {
    const labels = this.options.rowLabels;
    return labels && labels[r] !== undefined ? showToken(labels[r]) : "";
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render();
    });
  }

  visibleRange() {
    const v = this.viewport;
    const top = Math.max(0, v.scrollTop);
    const left = Math.max(0, v.scrollLeft);
    const height = v.clientHeight || MAX_VIEW_HEIGHT;
    const width = v.clientWidth || 800;
    const r0 = Math.max(0, Math.floor(top / ROW_HEIGHT) - OVERSCAN_ROWS);
    const r1 = Math.min(this.rows, Math.ceil((top + height) / ROW_HEIGHT) + OVERSCAN_ROWS);
    const c0 = Math.max(0, Math.floor(left / COL_WIDTH) - OVERSCAN_COLS);
    const c1 = Math.min(this.cols, Math.ceil((left + width - this.labelW) / COL_WIDTH) + OVERSCAN_COLS);
    return { r0, r1, c0, c1 };
  }

  render() {
    if (!this.root.isConnected) return;
    const { r0, r1, c0, c1 } = this.visibleRange();
    this.range = { r0, r1, c0, c1 };
    // Row labels and column headers.
    for (const [r, node] of this.renderedRows) if (r < r0 || r >= r1) { node.remove(); this.renderedRows.delete(r); }
    for (let r = r0; r < r1; r++) {
      if (this.renderedRows.has(r)) continue;
      const node = el("div", "grid-rowhead");
      node.style.top = `${r * ROW_HEIGHT}px`;
      const index = el("span", "grid-rowindex", String(r));
      const label = el("span", "grid-rowlabel", this.rowLabel(r));
      node.title = this.options.rowLabels ? `${r}: ${JSON.stringify(this.options.rowLabels[r])}` : String(r);
      node.append(index, label);
      this.rowHeads.append(node);
      this.renderedRows.set(r, node);
    }
    for (const [c, node] of this.renderedCols) if (c < c0 || c >= c1) { node.remove(); this.renderedCols.delete(c); }
    for (let c = c0; c < c1; c++) {
      if (this.renderedCols.has(c)) continue;
      const text = this.options.colLabel ? this.options.colLabel(c) : String(c);
      const node = el("div", "grid-colhead", text);
      node.style.left = `${c * COL_WIDTH}px`;
      this.colHeads.append(node);
      this.renderedCols.set(c, node);
    }
    // Value cells.
    for (const [key, node] of this.rendered) {
      const { row, col } = node.dataset;
      if (row < r0 || row >= r1 || col < c0 || col >= c1) { node.remove(); this.rendered.delete(key); }
    }
    const missingTiles = new Set();
    for (let r = r0; r < r1; r++) {
      for (let c = c0; c < c1; c++) {
        const key = `${r},${c}`;
        let node = this.rendered.get(key);
        if (!node) {
          node = el("div", "grid-cell");
          node.dataset.row = r;
          node.dataset.col = c;
          node.style.top = `${r * ROW_HEIGHT}px`;
          node.style.left = `${c * COL_WIDTH}px`;
          this.cellsLayer.append(node);
          this.rendered.set(key, node);
          node.dataset.filled = "";
        }
        if (node.dataset.filled !== String(this.generation)) {
          const value = this.valueAt(r, c);
          if (value === undefined) {
            missingTiles.add(`${Math.floor(r / TILE_ROWS)},${Math.floor(c / TILE_COLS)}`);
            node.textContent = "…";
            node.style.background = "";
            node.style.color = "var(--muted)";
          } else {
            this.paint(node, value);
            node.dataset.filled = String(this.generation);
          }
        }
        node.classList.toggle("selected", !!this.selected && this.selected.row === r && this.selected.col === c);
      }
    }
    for (const key of missingTiles) this.request(key);
  }

  /** Another colour scale for the values shown (one that arrived after them): repaint, fetch nothing. */
  setScale(scale) {
    this.options = { ...this.options, scale };
    for (const [key, node] of this.rendered) {
      if (node.dataset.filled !== String(this.generation)) continue;
      const [r, c] = key.split(",").map(Number);
      this.paint(node, this.valueAt(r, c));
    }
  }

  paint(node, value) {
    // no scale yet: the values uncoloured until it comes (setScale)
    const { background, color } = this.options.scale ? heatColor(value, this.options.scale) : { background: "", color: "" };
    node.textContent = formatValue(value);
    node.style.background = background;
    node.style.color = color;
  }

  valueAt(r, c) {
    const tr = Math.floor(r / TILE_ROWS);
    const tc = Math.floor(c / TILE_COLS);
    const tile = this.tiles.get(`${tr},${tc}`);
    if (!tile) return undefined;
    const c0 = tc * TILE_COLS;
    const width = Math.min(this.cols, c0 + TILE_COLS) - c0;
    return tile[(r - tr * TILE_ROWS) * width + (c - c0)];
  }

  request(key) {
    if (this.tiles.has(key) || this.pending.has(key)) return;
    this.pending.add(key);
    this.queue.push(key);
    this.pump();
  }

  pump() {
    while (this.inFlight < MAX_IN_FLIGHT && this.queue.length) {
      const key = this.queue.shift();
      const [tr, tc] = key.split(",").map(Number);
      if (!this.isNear(tr, tc)) { this.pending.delete(key); continue; }
      const r0 = tr * TILE_ROWS;
      const c0 = tc * TILE_COLS;
      const r1 = Math.min(this.rows, r0 + TILE_ROWS);
      const c1 = Math.min(this.cols, c0 + TILE_COLS);
      const generation = this.generation;
      this.inFlight += 1;
      Promise.resolve(this.options.fetch(r0, r1, c0, c1))
        .then((values) => {
          if (generation !== this.generation) return;
          this.tiles.set(key, values);
          if (this.tiles.size > MAX_CACHED_TILES) this.tiles.delete(this.tiles.keys().next().value);
          this.schedule();
          if (this.selected) this.select(this.selected.row, this.selected.col, false);
        })
        .catch((error) => {
          if (generation === this.generation) this.status.textContent = `Could not fetch values: ${error.message || error}`;
        })
        .finally(() => {
          this.inFlight -= 1;
          if (generation === this.generation) this.pending.delete(key);
          this.pump();
        });
    }
  }

  isNear(tr, tc) {
    if (!this.range) return true;
    const { r0, r1, c0, c1 } = this.range;
    return tr * TILE_ROWS < r1 + TILE_ROWS && (tr + 1) * TILE_ROWS > r0 - TILE_ROWS
      && tc * TILE_COLS < c1 + TILE_COLS && (tc + 1) * TILE_COLS > c0 - TILE_COLS;
  }

  select(row, col, notify = true) {
    this.selected = { row, col };
    for (const node of this.rendered.values()) {
      node.classList.toggle("selected", Number(node.dataset.row) === row && Number(node.dataset.col) === col);
    }
    const value = this.valueAt(row, col);
    const labels = this.options.rowLabels;
    const rowLabel = labels ? labels[row] : undefined;
    const info = { row, col, value, rowLabel };
    const rowText = rowLabel !== undefined ? `row ${row} ${JSON.stringify(rowLabel)}` : `row ${row}`;
    const colText = this.options.colLabel ? `col ${col} (${this.options.colLabel(col)})` : `col ${col}`;
    const valueText = value === undefined ? "…" : Number.isFinite(value) ? String(Number(value.toPrecision(7))) : formatValue(value);
    this.status.textContent = `${rowText} · ${colText} · value ${valueText}`;
    this.status.dataset.row = row;
    this.status.dataset.col = col;
    if (value !== undefined) this.status.dataset.value = String(value);
    if (notify && this.options.describe && value !== undefined) {
      Promise.resolve(this.options.describe(info)).then((extra) => {
        if (extra && this.selected && this.selected.row === row && this.selected.col === col) {
          this.status.textContent += ` · ${extra}`;
        }
      }).catch(() => {});
    }
    if (notify) this.options.onSelect?.(info);
  }

  onKey(event) {
    const moves = { ArrowUp: [-1, 0], ArrowDown: [1, 0], ArrowLeft: [0, -1], ArrowRight: [0, 1] };
    const move = moves[event.key];
    if (!move || !this.selected) return;
    event.preventDefault();
    const row = Math.max(0, Math.min(this.rows - 1, this.selected.row + move[0]));
    const col = Math.max(0, Math.min(this.cols - 1, this.selected.col + move[1]));
    this.scrollTo(row, col);
    this.select(row, col);
  }

  /** Bring (row, col) into view, e.g. the argmax column of the logits. */
  scrollTo(row, col) {
    const v = this.viewport;
    const top = row * ROW_HEIGHT;
    const left = col * COL_WIDTH;
    const viewH = v.clientHeight - HEADER_HEIGHT;
    const viewW = v.clientWidth - this.labelW;
    if (top < v.scrollTop) v.scrollTop = top;
    else if (top + ROW_HEIGHT > v.scrollTop + viewH) v.scrollTop = top + ROW_HEIGHT - viewH;
    if (left < v.scrollLeft) v.scrollLeft = left;
    else if (left + COL_WIDTH > v.scrollLeft + viewW) v.scrollLeft = left + COL_WIDTH - viewW;
    this.render();
  }

  destroy() {
    this.generation += 1;
    this.resizeObserver.disconnect();
    if (this.frame) cancelAnimationFrame(this.frame);
    this.root.remove();
  }
}
