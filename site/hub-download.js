// Fetches a GPT-2's files from the Hugging Face Hub (or a mirror at another base URL) as named Files.
// Only the hub base is contacted, plus wherever it redirects a large file (the Hub's CDN). A dropped connection
// resumes with an HTTP Range request; received bytes are kept as Blob parts, never as one ArrayBuffer
// (GPT-2 medium is 1.5 GB). Converting the files into a stored model is not done here.

export const DEFAULT_HUB = "https://huggingface.co";
const REVISION = "main";
const CONFIG = "config.json";
const WEIGHTS = "model.safetensors";
const INDEX = "model.safetensors.index.json";
const VOCAB = "vocab.json";
const MERGES = "merges.txt";
const TOKENIZER_JSON = "tokenizer.json";
const RESUME_ATTEMPTS = 4;
const RETRY_PAUSE_MS = 500;
const PART_BYTES = 8 << 20;  // received chunks are gathered into Blob parts of about this size
const PROGRESS_EVERY_MS = 100;
const RATE_WINDOW_MS = 3000;
// owner/name or name: letters, digits, "-", "_", "." (not leading), up to 96 characters each (as the Hub allows)
const REPO_ID = /^(?:[A-Za-z0-9][A-Za-z0-9._-]{0,95}\/)?[A-Za-z0-9][A-Za-z0-9._-]{0,95}$/;

export class HubError extends Error {
  constructor(message) {
    super(message);
    this.name = "HubError";
  }
}

/** The download was cut and the server answered the resume request with the whole file (or a wrong range). */
/** The hub could not be reached (no answer at all); a download retries these. */
export class HubUnreachableError extends HubError {
  constructor(message) {
    super(message);
    this.name = "HubUnreachableError";
  }
}

export class CannotResumeError extends HubError {
  constructor(message) {
    super(message);
    this.name = "CannotResumeError";
  }
}

export function checkRepoId(repo) {
  if (typeof repo !== "string" || !REPO_ID.test(repo) || repo.includes("..") || repo.endsWith(".git")) {
    throw new HubError(`"${repo}" is not a Hugging Face model id: expected owner/name (e.g. ` +
      "openai-community/gpt2) or name (e.g. gpt2)");
  }
  return repo;
}

function hubOrigin(hubBase) {
  let url;
  try {
    url = new URL(hubBase ?? DEFAULT_HUB);
  } catch {
    throw new HubError(`"${hubBase}" is not a URL for the hub (e.g. ${DEFAULT_HUB})`);
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") {
    throw new HubError(`the hub URL must start with https:// or http://, got "${hubBase}"`);
  }
  return { base: url.href.replace(/\/+$/, ""), host: url.host };
}

const resolveUrl = (hub, repo, file) => `${hub.base}/${repo}/resolve/${REVISION}/${encodeURIComponent(file)}`;

function abortError(signal) {
  return signal.reason ?? new DOMException("the download was cancelled", "AbortError");
}

async function request(hub, repo, url, file, { signal, headers } = {}) {
  let response;
  try {
    response = await fetch(url, { signal, headers, cache: "no-store" });
  } catch (error) {
    if (signal?.aborted) throw abortError(signal);
    throw new HubUnreachableError(`could not reach ${hub.host} (${error.message}): check the connection or the ` +
      "hub URL");
  }
  if (response.ok) return response;
  const code = response.headers.get("X-Error-Code");
  if (code === "RepoNotFound") throw new HubError(`no model ${repo} on ${hub.host}`);
  if (code === "EntryNotFound") throw new HubError(`${repo} has no ${file}`);
  if (code === "GatedRepo" || response.status === 401 || response.status === 403) {
    throw new HubError(`${repo} on ${hub.host} needs a login (gated or private); the page downloads public ` +
      "models only");
  }
  throw new HubError(`${hub.host} answered ${response.status} ${response.statusText} for ${file} of ${repo}`);
}

async function jsonOf(response, what) {
  try {
    return await response.json();
  } catch (error) {
    if (error.name === "AbortError") throw error; // Cancel while the body arrived: not a bad file
    throw new HubError(`${what} is not JSON (${error.message})`);
  }
}

/** The files this GPT-2 needs, given the repo's file list: [name, ...] in download order. */
async function neededFiles(hub, repo, sizes, { signal }) {
  const need = (name) => {
    if (!sizes.has(name)) throw new HubError(`${repo} has no ${name}`);
    return name;
  };
  const files = [need(CONFIG)];
  if (sizes.has(VOCAB) && sizes.has(MERGES)) files.push(VOCAB, MERGES);
  else if (sizes.has(TOKENIZER_JSON)) files.push(TOKENIZER_JSON);
  else throw new HubError(`${repo} has no tokenizer: neither ${VOCAB} + ${MERGES} nor ${TOKENIZER_JSON}`);
  if (sizes.has(WEIGHTS)) return [...files, WEIGHTS];
  if (!sizes.has(INDEX)) {
    throw new HubError(`${repo} has no ${WEIGHTS} (nor ${INDEX}); the page reads safetensors weights only`);
  }
  const index = await jsonOf(await request(hub, repo, resolveUrl(hub, repo, INDEX), INDEX, { signal }),
    `${INDEX} of ${repo}`);
  const shards = [...new Set(Object.values(index?.weight_map ?? {}))].sort();
  if (shards.length === 0) throw new HubError(`${INDEX} of ${repo} has no weight_map`);
  return [...files, INDEX, ...shards.map(need)];
}

/**
 * Which files a GPT-2 in `repo` needs and their sizes, before anything large is fetched:
 * {repo, host, files: [{name, size, url}], total}. Asks the hub's file list (one request; two if sharded).
 */
export async function listHubModel(hubBase, repo, { signal } = {}) {
  checkRepoId(repo);
  const hub = hubOrigin(hubBase);
  const treeUrl = `${hub.base}/api/models/${repo}/tree/${REVISION}`;
  const tree = await jsonOf(await request(hub, repo, treeUrl, "file list", { signal }), `the file list of ${repo}`);
  if (!Array.isArray(tree)) throw new HubError(`the file list of ${repo} on ${hub.host} is not a list`);
  const sizes = new Map(tree.filter((item) => item?.type === "file")
    .map((item) => [item.path, item.lfs?.size ?? item.size]));
  const names = await neededFiles(hub, repo, sizes, { signal });
  const files = names.map((name) => ({ name, size: sizes.get(name), url: resolveUrl(hub, repo, name) }));
  return { repo, host: hub.host, files, total: files.reduce((sum, file) => sum + file.size, 0) };
}

/** Progress over the whole download, at most every PROGRESS_EVERY_MS; rate over the last few seconds. */
function progressReporter(total, onProgress) {
  const samples = [];  // [time, loaded]
  let lastReport = -Infinity;
  let loaded = 0;
  return (file, bytes, { final = false } = {}) => {
    loaded += bytes;
    const now = performance.now();
    samples.push([now, loaded]);
    while (samples.length > 2 && now - samples[0][0] > RATE_WINDOW_MS) samples.shift();
    if (!onProgress || (!final && now - lastReport < PROGRESS_EVERY_MS)) return;
    lastReport = now;
    const [since, loadedThen] = samples[0];
    const bytesPerSecond = now > since ? (loaded - loadedThen) / ((now - since) / 1000) : 0;
    const secondsLeft = bytesPerSecond > 0 ? (total - loaded) / bytesPerSecond : null;
    onProgress({ file, loaded, total, bytesPerSecond, secondsLeft });
  };
}

function contentRangeStart(response) {
  const match = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(response.headers.get("Content-Range") ?? "");
  return match ? Number(match[1]) : null;
}

const pause = (ms, signal) => new Promise((resolve, reject) => {
  const onAbort = () => { clearTimeout(timer); reject(abortError(signal)); };
  const timer = setTimeout(() => { signal?.removeEventListener("abort", onAbort); resolve(); }, ms);
  signal?.addEventListener("abort", onAbort, { once: true });
});

/** Received chunks gathered into Blobs of about PART_BYTES, so a big file never sits in one ArrayBuffer. */
function blobParts() {
  const parts = [];
  let chunks = [];
  let pending = 0;
  const seal = () => {
    if (chunks.length) parts.push(new Blob(chunks));
    chunks = [];
    pending = 0;
  };
  return {
    add(chunk) {
      chunks.push(chunk);
      pending += chunk.byteLength;
      if (pending >= PART_BYTES) seal();
    },
    file(name) {
      seal();
      return new File(parts, name);
    },
  };
}

/** A resumed response must carry exactly the rest: 206 from byte `received`. */
function checkResumed(response, hub, name, received) {
  let problem = null;
  if (response.status !== 206) {
    problem = `${hub.host} sent ${name} from the start again (HTTP ${response.status}) when asked for the rest ` +
      `after ${received} bytes`;
  } else if (contentRangeStart(response) !== received) {
    problem = `asked for ${name} from byte ${received}, ${hub.host} sent Content-Range ` +
      `"${response.headers.get("Content-Range")}"`;
  }
  if (problem) {
    response.body?.cancel();
    throw new CannotResumeError(`the server cannot resume this download: ${problem}. Try again.`);
  }
}

/** One file as a File, resuming after a cut connection with Range: bytes=<received>-. */
async function downloadFile(hub, repo, { name, size, url }, report, signal) {
  const parts = blobParts();
  let received = 0;
  let failure = null;
  for (let attempt = 0; attempt <= RESUME_ATTEMPTS; attempt++) {
    if (attempt > 0) await pause(RETRY_PAUSE_MS * attempt, signal);
    const headers = received > 0 ? { Range: `bytes=${received}-` } : undefined;
    let response;
    try {
      response = await request(hub, repo, url, name, { signal, headers });
    } catch (error) {
      if (!(error instanceof HubUnreachableError)) throw error;
      failure = error;  // the connection dropped and a reconnect failed too: wait a little longer, try again
      continue;
    }
    if (received > 0) checkResumed(response, hub, name, received);
    const reader = response.body.getReader();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.add(value);
        received += value.byteLength;
        report(name, value.byteLength);
      }
    } catch (error) {
      if (signal?.aborted) throw abortError(signal);
      failure = error;  // a cut connection: resume from `received`
      continue;
    }
    if (received === size) return parts.file(name);
    if (received > size) {
      throw new HubError(`${hub.host} sent ${received} bytes of ${name}, but the file list says ${size}`);
    }
    failure = new Error(`the connection ended after ${received} of ${size} bytes`);
  }
  throw new HubError(`the download of ${name} from ${hub.host} kept failing (${failure?.message}) after ` +
    `${RESUME_ATTEMPTS} attempts to resume; try again later`);
}

/**
 * Download a GPT-2's files (see listHubModel; pass its result as `listing` to skip asking again).
 * Returns File[] named as on the hub. onProgress({file, loaded, total, bytesPerSecond, secondsLeft}), loaded
 * and total over all files. Aborting `signal` rejects with an AbortError and keeps nothing.
 */
export async function downloadHubModel(hubBase, repo, { onProgress, signal, listing } = {}) {
  checkRepoId(repo);
  const hub = hubOrigin(hubBase);
  listing ??= await listHubModel(hubBase, repo, { signal });
  const report = progressReporter(listing.total, onProgress);
  const files = [];
  for (const file of listing.files) {
    if (signal?.aborted) throw abortError(signal);
    files.push(await downloadFile(hub, repo, file, report, signal));
    report(file.name, 0, { final: true });
  }
  return files;
}
