// Our engine in the browser without the page around it: dist/'s Pyodide + gpt2cells.zip, the packed model
// written to the in-memory filesystem, timed by bench/engine_timing.py (the code native.py uses).
import { reply, wasmMemoryBytes } from "./wasm-memory.mjs";
import { loadPyodide } from "/dist/pyodide/pyodide.mjs";

async function fetchBytes(url) {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

reply(async ({ modelUrl, promptIds, newTokens, repeats }) => {
  let start = performance.now();
  const pyodide = await loadPyodide({ indexURL: "/dist/pyodide/" });
  await pyodide.loadPackage(["numpy", "regex"]);
  const sitePackages = pyodide.runPython("import sysconfig; sysconfig.get_paths()['purelib']");
  pyodide.unpackArchive(await fetchBytes("/dist/gpt2cells.zip"), "zip", { extractDir: sitePackages });
  pyodide.FS.writeFile(`${sitePackages}/engine_timing.py`, await fetchBytes("/py/engine_timing.py"));
  const bootMs = performance.now() - start;
  pyodide.FS.writeFile("/tmp/model.zip", await fetchBytes(modelUrl));
  const run = pyodide.globals.get("dict")();
  run.set("args", pyodide.toPy({ promptIds, newTokens, repeats }));
  const result = pyodide.runPython(`
import json, gpt2cells, engine_timing
json.dumps(engine_timing.measure_gpt2cells(gpt2cells, "/tmp/model.zip", args["promptIds"], args["newTokens"],
                                           args["repeats"]))`, { globals: run });
  return { ...JSON.parse(result), boot_s: bootMs / 1000, wasm_memory_bytes: wasmMemoryBytes(),
           python: pyodide.runPython("import sys; sys.version.split()[0]") };
});
