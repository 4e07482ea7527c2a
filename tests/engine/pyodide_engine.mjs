// Runs a Python script with gpt2cells inside Pyodide (Python 3.14 + NumPy 2.x, as in the page's worker).
// usage: node pyodide_engine.mjs <pyodide core dir> <repo py/ dir> <work dir> <script.py> <wheel file>...
// py/ and the work dir are mounted at the same paths; the script finds them as PY_DIR and WORK_DIR.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [pyodideDir, pyDir, workDir, script, ...wheels] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(path.join(pyodideDir, "pyodide.mjs")).href);
const py = await loadPyodide({ indexURL: pyodideDir + "/" });
await py.loadPackage(wheels, { messageCallback: () => {} });
for (const dir of [pyDir, workDir]) {
  py.FS.mkdirTree(dir);
  py.FS.mount(py.FS.filesystems.NODEFS, { root: dir }, dir);
}
py.globals.set("PY_DIR", pyDir);
py.globals.set("WORK_DIR", workDir);
await py.runPythonAsync(`import sys; sys.path.insert(0, PY_DIR)\n` + fs.readFileSync(script, "utf8"));
