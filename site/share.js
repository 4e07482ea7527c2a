// Share links: "Copy link" puts the prompt and the edited cells into the URL's fragment (deflate-raw, then
// base64url), so nothing reaches a server. Opening such a link shows the incoming code as a diff against the
// default cells and runs nothing until the learner accepts; declining leaves their own saved edits as they were.
//
//   const share = new Share(offerRoot, notebook);   // reads location.hash at once
//   const url = await share.link();                  // this page's URL with the edits in its fragment

const PREFIX = "#share=";
const FORMAT = 1;

async function deflate(bytes, format) {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function inflate(bytes, format) {
  const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream(format));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

function toBase64url(bytes) {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

function fromBase64url(text) {
  const binary = atob(text.replaceAll("-", "+").replaceAll("_", "/"));
  return Uint8Array.from(binary, (char) => char.charCodeAt(0));
}

/** {v, sources: {cellId: code}} → the fragment's text. */
export async function encodeShare(sources) {
  const json = JSON.stringify({ v: FORMAT, sources });
  return toBase64url(await deflate(new TextEncoder().encode(json), "deflate-raw"));
}

/** The fragment's text → {cellId: code}; a clear error for a damaged or foreign link. */
export async function decodeShare(text) {
  let payload;
  try {
    payload = JSON.parse(new TextDecoder().decode(await inflate(fromBase64url(text), "deflate-raw")));
  } catch (error) {
    throw new Error(`the link's notebook could not be read (cut short or altered?): ${error.message}`);
  }
  if (payload?.v !== FORMAT || typeof payload.sources !== "object" || payload.sources === null) {
    throw new Error(`the link holds a notebook in format ${payload?.v}; this page reads format ${FORMAT}`);
  }
  const sources = {};
  for (const [id, code] of Object.entries(payload.sources)) {
    if (typeof code !== "string") throw new Error(`the link's cell ${id} is not text`);
    sources[id] = code;
  }
  return sources;
}

/** Lines of a → lines of b as [{op: " " | "-" | "+", line}] (longest common subsequence). */
export function lineDiff(a, b) {
  const x = a.split("\n");
  const y = b.split("\n");
  const common = Array.from({ length: x.length + 1 }, () => new Uint32Array(y.length + 1));
  for (let i = x.length - 1; i >= 0; i--) {
    for (let j = y.length - 1; j >= 0; j--) {
      common[i][j] = x[i] === y[j] ? common[i + 1][j + 1] + 1 : Math.max(common[i + 1][j], common[i][j + 1]);
    }
  }
  const diff = [];
  let i = 0;
  let j = 0;
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) { diff.push({ op: " ", line: x[i] }); i++; j++; }
    else if (j < y.length && (i === x.length || common[i][j + 1] >= common[i + 1][j])) diff.push({ op: "+", line: y[j++] });
    else diff.push({ op: "-", line: x[i++] });
  }
  return diff;
}

function node(tag, attributes = {}, ...children) {
  const made = document.createElement(tag);
  for (const [key, value] of Object.entries(attributes)) {
    if (key === "text") made.textContent = value;
    else if (key === "testid") made.dataset.testid = value;
    else if (key === "class") made.className = value;
    else made.setAttribute(key, value);
  }
  made.append(...children);
  return made;
}

export class Share {
  constructor(root, notebook) {
    this.root = root;
    this.notebook = notebook;
    this.incoming = null; // Promise of {cellId: code} from the link this page was opened with
    if (location.hash.startsWith(PREFIX)) {
      notebook.holdAutoRun = true;
      this.incoming = decodeShare(location.hash.slice(PREFIX.length));
      this.incoming.catch((error) => this.showFailure(error));
      this.offerAbort = new AbortController(); // the offer is made once, when the notebook first opens
      notebook.addEventListener("cells", (event) => this.offer(event.detail.cells), { signal: this.offerAbort.signal });
    }
  }

  /** This page's URL with the edited cells (the prompt among them) in its fragment. */
  async link() {
    const url = new URL(location.href);
    url.hash = PREFIX.slice(1) + await encodeShare(this.notebook.editedSources());
    return url.href;
  }

  /** Copy the link to the clipboard and show it (the clipboard may be refused: the link stays selectable). */
  async copyLink() {
    const href = await this.link();
    let copied = true;
    try { await navigator.clipboard.writeText(href); } catch { copied = false; }
    const field = node("input", { type: "text", readonly: "", value: href, testid: "share-link", "aria-label": "Share link" });
    const close = node("button", { type: "button", class: "secondary", text: "Close" });
    close.addEventListener("click", () => { this.root.hidden = true; });
    this.root.replaceChildren(node("span", { text: copied ? "Link copied. " : "Copy this link: " }), field, close);
    this.root.hidden = false;
    field.select();
    return href;
  }

  async offer(cells) {
    if (!cells.length) return; // the notebook is not open yet
    this.offerAbort.abort(); // once: a later reopen must not ask again
    let sources;
    try { sources = await this.incoming; } catch { return; }
    const defaults = this.notebook.defaultSources();
    const changed = Object.entries(sources).filter(([id]) => id in defaults);
    const unknown = Object.keys(sources).filter((id) => !(id in defaults));
    const diff = node("div", { class: "share-diff", testid: "share-diff" });
    for (const [id, code] of changed) {
      const title = cells.find((cell) => cell.id === id)?.title || id;
      const lines = lineDiff(defaults[id], code).map(({ op, line }) => node("span", { class: op === "+" ? "diff-add" : op === "-" ? "diff-del" : "",
          text: `${op} ${line}\n` }));
      diff.append(node("h3", { text: title }), node("pre", {}, ...lines));
    }
    if (!changed.length) diff.append(node("p", { text: "The link holds no edits: every cell is its default." }));
    if (unknown.length) diff.append(node("p", { text: `Not steps of this notebook (ignored): ${unknown.join(", ")}` }));
    const accept = node("button", { type: "button", testid: "share-accept", text: "Use this code" });
    const decline = node("button", { type: "button", class: "secondary", testid: "share-decline", text: "Keep mine" });
    accept.addEventListener("click", () => this.answer(true, Object.fromEntries(changed)));
    decline.addEventListener("click", () => this.answer(false));
    this.root.replaceChildren(
      node("h2", { text: "Someone shared a notebook with you" }),
      node("p", { text: `${changed.length} cell${changed.length === 1 ? "" : "s"} differ from the defaults. ` +
        "Nothing has run. Using this code replaces your own edits; keeping yours leaves them as they are." }),
      diff, accept, decline);
    this.root.hidden = false;
  }

  answer(accepted, sources) {
    this.root.hidden = true;
    this.root.replaceChildren();
    history.replaceState(null, "", location.pathname + location.search); // a reload must not ask again
    this.notebook.holdAutoRun = false;
    if (accepted) {
      this.notebook.applySources(sources);
      this.notebook.runAll();
    } else this.notebook.setRunState("", "Kept your code. Press Run all.");
  }

  showFailure(error) {
    this.notebook.holdAutoRun = false;
    const close = node("button", { type: "button", class: "secondary", text: "Close" });
    close.addEventListener("click", () => { this.root.hidden = true; });
    this.root.replaceChildren(node("span", { testid: "share-error", text: `This share link cannot be used: ${error.message}` }), close);
    this.root.hidden = false;
  }
}
