// Registers the service worker (sw.js) and tells the learner when a newer build of the site is waiting:
// "A new version of this page is available — Reload". Reload lets the new worker take over, then reloads.
//
//   registerServiceWorker(document.getElementById("update-notice"));

export async function registerServiceWorker(notice) {
  if (!("serviceWorker" in navigator)) return null;
  let registration;
  try {
    registration = await navigator.serviceWorker.register(new URL("./sw.js", import.meta.url), { scope: "./" });
  } catch (error) {
    console.warn(`Offline use is unavailable: the service worker did not register (${error.message})`);
    return null;
  }
  const hadController = Boolean(navigator.serviceWorker.controller);
  const offer = (worker) => showNotice(notice, worker);
  if (registration.waiting && hadController) offer(registration.waiting);
  registration.addEventListener("updatefound", () => {
    const worker = registration.installing;
    worker?.addEventListener("statechange", () => {
      // with no controller this is the first install, not an update
      if (worker.state === "installed" && navigator.serviceWorker.controller) offer(worker);
    });
  });
  return registration;
}

function showNotice(notice, worker) {
  const button = document.createElement("button");
  button.type = "button";
  button.dataset.testid = "update-reload";
  button.textContent = "Reload";
  button.addEventListener("click", () => {
    button.disabled = true;
    navigator.serviceWorker.addEventListener("controllerchange", () => location.reload(), { once: true });
    worker.postMessage("skip-waiting");
  });
  notice.replaceChildren("A new version of this page is available — reload to use it.", button);
  notice.hidden = false;
}
