// Which layer and attention head the notebook's per-layer outputs show; one choice for the whole page.
//
//   selection.addEventListener("change", () => ...);   selection.select(layer, head);
//   selection.addEventListener("reveal", () => ...);   selection.reveal(layer, head);  // select, and show it

export class ViewSelection extends EventTarget {
  constructor() {
    super();
    this.layer = 0;
    this.head = 0;
  }

  /** Keep the choice inside a model with n_layer layers and n_head heads. */
  fit({ n_layer, n_head }) {
    this.layer = Math.min(this.layer, Math.max(0, n_layer - 1));
    this.head = Math.min(this.head, Math.max(0, n_head - 1));
  }

  select(layer, head) {
    this.layer = layer;
    this.head = head;
    this.dispatchEvent(new Event("change"));
  }

  /** Select a head and ask the notebook to bring the attention cells into view (a click in the analysis cells). */
  reveal(layer, head) {
    this.select(layer, head);
    this.dispatchEvent(new Event("reveal"));
  }
}
