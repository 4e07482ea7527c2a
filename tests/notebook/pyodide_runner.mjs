// Runs tests/notebook with pytest inside Pyodide (Python 3.14 + NumPy 2.x, as in the page's worker).
// usage: node pyodide_runner.mjs <repo root> <pyodide dir with numpy wheel> <host site-packages>
// pytest is pure Python: the host's copy is mounted into Pyodide's filesystem.
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";

const [root, pyodideDir, sitePackages] = process.argv.slice(2);
const { loadPyodide } = await import(pathToFileURL(path.join(pyodideDir, "pyodide.mjs")).href);
const py = await loadPyodide({ indexURL: pyodideDir + "/" });
await py.loadPackage("numpy", { messageCallback: () => {} });

function copyTree(src, dst) {
  py.FS.mkdirTree(dst);
  for (const entry of fs.readdirSync(src, { withFileTypes: true })) {
    if (entry.name === "__pycache__") continue;
    const from = path.join(src, entry.name), to = path.join(dst, entry.name);
    if (entry.isDirectory()) copyTree(from, to);
    else py.FS.writeFile(to, fs.readFileSync(from));
  }
}
for (const name of ["pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments"]) {
  copyTree(path.join(sitePackages, name), `/home/pyodide/lib/${name}`);
}
py.FS.writeFile("/home/pyodide/lib/py.py", fs.readFileSync(path.join(sitePackages, "py.py")));
py.FS.mkdirTree("/home/pyodide/py/gpt2cells");
py.FS.writeFile("/home/pyodide/py/gpt2cells/__init__.py", "");  // only the notebook modules, not the engine
for (const name of ["notebook.py", "notebook_names.py", "notebook_output.py", "notebook_format.py"]) {
  py.FS.writeFile(`/home/pyodide/py/gpt2cells/${name}`, fs.readFileSync(path.join(root, "py/gpt2cells", name)));
}
copyTree(path.join(root, "tests/notebook"), "/home/pyodide/tests/notebook");
const exitCode = await py.runPythonAsync(`
import os, sys
sys.path[:0] = ["/home/pyodide/lib", "/home/pyodide/py"]
os.chdir("/home/pyodide")
print("python", sys.version.split()[0], flush=True)
import pytest
int(pytest.main(["-q", "-p", "no:cacheprovider", "tests/notebook", "-k", "not in_pyodide"]))
`);
process.exit(exitCode);
