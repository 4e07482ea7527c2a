// The service worker: the page and its Python runtime open without the network after the first visit.
//
// build.py stamps BUILD_ID (a digest of every file in dist/) and PRECACHE (the files to keep) into the copy in
// dist/; a new deploy is therefore a new sw.js, which the browser installs beside the running one: the page
// then shows "new version — reload" (update-notice.js) and the new worker takes over when the learner says so.
// Each build has its own cache; an old build's cache goes when the new worker activates. Requests to other
// origins (the Hugging Face Hub, a local mirror) are not touched. Scope and cache keys are relative to this
// file, so the site works under a subpath (GitHub Pages: /<repo>/).
const BUILD_ID = "dev";
const PRECACHE = [];
const CACHE = `gpt2cells-${BUILD_ID}`;
const SCOPE = new URL("./", self.location.href);

self.addEventListener("install", (event) => {
  // cache: "no-cache" revalidates with the server (a 304 reuses what the first visit downloaded)
  event.waitUntil(caches.open(CACHE).then((cache) =>
    cache.addAll(PRECACHE.map((path) => new Request(new URL(path, SCOPE), { cache: "no-cache" })))));
});

self.addEventListener("activate", (event) => {
  event.waitUntil((async () => {
    for (const name of await caches.keys()) {
      if (name.startsWith("gpt2cells-") && name !== CACHE) await caches.delete(name);
    }
    // the first visit's page is controlled at once, so what it fetches later (a model) is kept too
    await self.clients.claim();
  })());
});

self.addEventListener("message", (event) => {
  if (event.data === "skip-waiting") self.skipWaiting();
});

/** The cache key of a request to this site: the page itself for a navigation, no query string. */
function cacheKey(request) {
  const url = new URL(request.url);
  url.hash = "";
  url.search = "";
  if (request.mode === "navigate" && url.href === SCOPE.href) url.pathname += "index.html";
  return url.href;
}

async function respond(request) {
  const cache = await caches.open(CACHE);
  const key = cacheKey(request);
  const cached = await cache.match(key);
  if (cached) return cached;
  const response = await fetch(request);
  // a file this build did not precache (a source map) is kept once it has been fetched whole
  if (response.ok && response.status === 200 && response.type === "basic") await cache.put(key, response.clone());
  return response;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET" || !request.url.startsWith(SCOPE.href) || request.headers.has("range")) return;
  event.respondWith(respond(request));
});
