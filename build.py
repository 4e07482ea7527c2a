"""Assemble dist/: the static site with its Python runtime vendored, so the page never needs a CDN.

    python build.py                      build dist/
    python build.py serve [--port 8000]  build, then serve dist/ on http://127.0.0.1:8000/
    python build.py serve --base /repo/  ... under a subpath, as GitHub Pages serves a project site

Pyodide's core comes from npm (pinned in package-lock.json). The wasm wheels are not in that npm package;
each is taken from the first source that has it -- the local cache, Pyodide's CDN, or the PyPI wheel
open-webui==0.12.4 that carries byte-identical copies -- and must match the sha256 in the npm package's
pyodide-lock.json. A file that does not match is never written to dist/: the build stops and names it.
Standard library only (plus npm and pip as subprocesses).
"""

import argparse
import functools
import hashlib
import http.server
import json
import os
import re
import runpy
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
PYODIDE_VERSION = "314.0.3"
PYODIDE_NPM_DIR = ROOT / "node_modules" / "pyodide"
# The runtime files the page loads (source maps only help devtools, they are small).
PYODIDE_CORE_FILES = [
    "pyodide.mjs", "pyodide.mjs.map", "pyodide.asm.mjs", "pyodide.asm.wasm", "python_stdlib.zip",
]
# Lock entries the page loads with pyodide.loadPackage (we use Pyodide directly, so no micropip).
WHEEL_PACKAGES = ["numpy", "regex"]
CDN_BASE = f"https://cdn.jsdelivr.net/pyodide/v{PYODIDE_VERSION}/full/"
CDN_TIMEOUT_SECONDS = 5
FALLBACK_PYPI_WHEEL = "open-webui==0.12.4"
FALLBACK_MEMBER_DIR = "open_webui/frontend/pyodide/"
DEFAULT_CACHE = Path(os.environ.get("GPT2CELLS_CACHE", Path.home() / ".cache" / "gpt2cells"))
ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps keep gpt2cells.zip byte-reproducible


class BuildError(Exception):
    """A build step failed in a way the user must fix; the message says how."""


def log(message):
    print(f"[build] {message}", flush=True)


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_sha256(path, expected, file_name, source):
    actual = sha256_of(path)
    if actual != expected:
        raise BuildError(
            f"sha256 mismatch for {file_name} (from {source}: {path})\n"
            f"  expected {expected} (pyodide-lock.json of pyodide@{PYODIDE_VERSION})\n"
            f"  got      {actual}\n"
            f"The file was not copied into dist/. Delete it and build again to fetch a fresh copy."
        )


# ---------------------------------------------------------------- npm: Pyodide core + lock file

def stale_node_modules():
    """Packages of package-lock.json that node_modules lacks or has at another version (optional ones skipped)."""
    lock = json.loads((ROOT / "package-lock.json").read_text())
    stale = []
    for path, entry in lock["packages"].items():
        if not path or entry.get("optional") or entry.get("link"):
            continue
        installed = ROOT / path / "package.json"
        if not installed.exists() or json.loads(installed.read_text()).get("version") != entry.get("version"):
            stale.append(path.removeprefix("node_modules/"))
    return stale


def ensure_npm_packages():
    """node_modules as package-lock.json pins it; `npm ci` only when something is missing (it deletes first)."""
    stale = stale_node_modules()
    if stale:
        log(f"node_modules out of date ({', '.join(stale[:5])}{'...' if len(stale) > 5 else ''}): running npm ci")
        try:
            subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT, check=True)
        except (OSError, subprocess.CalledProcessError) as error:
            raise BuildError(f"npm ci failed ({error}); install Node.js/npm and retry") from error


def ensure_pyodide_npm():
    """node_modules/pyodide at the pinned version; returns its official pyodide-lock.json."""
    ensure_npm_packages()
    package_json = PYODIDE_NPM_DIR / "package.json"
    version = json.loads(package_json.read_text())["version"]
    if version != PYODIDE_VERSION:
        raise BuildError(f"node_modules/pyodide is {version}, expected {PYODIDE_VERSION}: run `npm ci`")
    missing = [name for name in PYODIDE_CORE_FILES + ["pyodide-lock.json"] if not (PYODIDE_NPM_DIR / name).exists()]
    if missing:
        raise BuildError(f"node_modules/pyodide lacks {missing}: run `npm ci`")
    return json.loads((PYODIDE_NPM_DIR / "pyodide-lock.json").read_text())


# ---------------------------------------------------------------- wheels: cache -> CDN -> open-webui

def fetch_from_cdn(file_name, destination):
    """Download one file from Pyodide's CDN; False (quickly) when there is no network."""
    url = CDN_BASE + file_name
    try:
        with urllib.request.urlopen(url, timeout=CDN_TIMEOUT_SECONDS) as response, open(destination, "wb") as f:
            shutil.copyfileobj(response, f)
        return True
    except OSError as error:  # URLError, timeouts and refused connections are all OSErrors
        log(f"CDN unavailable for {file_name} ({error}); trying the next source")
        destination.unlink(missing_ok=True)
        return False


def extract_from_fallback_wheel(file_names, staging_dir):
    """pip download open-webui (which vendors Pyodide's wheels) and extract the requested files."""
    download_dir = staging_dir / "pypi"
    log(f"downloading {FALLBACK_PYPI_WHEEL} with pip to extract {', '.join(file_names)}")
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check",
               "--quiet", FALLBACK_PYPI_WHEEL, "-d", str(download_dir)]
    try:
        subprocess.run(command, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise BuildError(f"`{' '.join(command)}` failed ({error}); no source left for {file_names}") from error
    (wheel_path,) = download_dir.glob("open_webui-*.whl")
    extracted = {}
    with zipfile.ZipFile(wheel_path) as wheel:
        members = set(wheel.namelist())
        for file_name in file_names:
            member = FALLBACK_MEMBER_DIR + file_name
            if member not in members:
                raise BuildError(f"{wheel_path.name} has no {member}")
            target = staging_dir / file_name
            with wheel.open(member) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
            extracted[file_name] = target
    return extracted


def resolve_wheels(lock, cache_dir):
    """Every wheel in WHEEL_PACKAGES as a verified file in cache_dir/wheels; returns {file_name: source}."""
    wheel_cache = cache_dir / "wheels"
    wheel_cache.mkdir(parents=True, exist_ok=True)
    entries = [lock["packages"][name] for name in WHEEL_PACKAGES]
    sources = {}
    missing = []
    for entry in entries:
        cached = wheel_cache / entry["file_name"]
        if cached.exists():
            check_sha256(cached, entry["sha256"], entry["file_name"], "the cache")
            sources[entry["file_name"]] = "cache"
        else:
            missing.append(entry)
    if not missing:
        return sources
    with tempfile.TemporaryDirectory(prefix="gpt2cells-build-") as staging:
        staging_dir = Path(staging)
        still_missing = []
        for entry in missing:
            target = staging_dir / entry["file_name"]
            if fetch_from_cdn(entry["file_name"], target):
                check_sha256(target, entry["sha256"], entry["file_name"], CDN_BASE)
                os.replace(target, wheel_cache / entry["file_name"])
                sources[entry["file_name"]] = "cdn"
            else:
                still_missing.append(entry)
        if still_missing:
            extracted = extract_from_fallback_wheel([e["file_name"] for e in still_missing], staging_dir)
            for entry in still_missing:
                check_sha256(extracted[entry["file_name"]], entry["sha256"], entry["file_name"], FALLBACK_PYPI_WHEEL)
                shutil.move(extracted[entry["file_name"]], wheel_cache / entry["file_name"])
                sources[entry["file_name"]] = FALLBACK_PYPI_WHEEL
    return sources


def trimmed_lock(lock):
    """The official lock file restricted to the packages we ship (so nothing points at a missing file)."""
    return {"info": lock["info"], "packages": {name: lock["packages"][name] for name in WHEEL_PACKAGES}}


# ---------------------------------------------------------------- CodeMirror: the cells' editor

# What site/editor.js imports from ./vendor/codemirror.js: CodeMirror 6 and its Python mode, bundled by
# esbuild (package.json devDependencies) from the npm packages package-lock.json pins.
CODEMIRROR_ENTRY = """\
export {EditorView, keymap, lineNumbers, drawSelection, highlightActiveLine, Decoration} from "@codemirror/view";
export {EditorState, StateField, StateEffect, Prec} from "@codemirror/state";
export {defaultKeymap, history, historyKeymap, indentWithTab} from "@codemirror/commands";
export {syntaxHighlighting, defaultHighlightStyle, bracketMatching, indentOnInput, indentUnit} from "@codemirror/language";
export {closeBrackets, closeBracketsKeymap} from "@codemirror/autocomplete";
export {python} from "@codemirror/lang-python";
"""


def bundle_codemirror(target):
    """esbuild CODEMIRROR_ENTRY into one ES module (about 370 kB minified)."""
    esbuild = ROOT / "node_modules" / ".bin" / "esbuild"
    if not esbuild.exists():
        raise BuildError(f"{esbuild} missing: run `npm ci`")
    target.parent.mkdir(parents=True, exist_ok=True)
    command = [str(esbuild), "--bundle", "--format=esm", "--minify", "--legal-comments=eof", "--log-level=warning",
               "--sourcefile=codemirror-entry.js", f"--outfile={target}"]
    try:
        subprocess.run(command, input=CODEMIRROR_ENTRY, text=True, cwd=ROOT, check=True)
    except (OSError, subprocess.CalledProcessError) as error:
        raise BuildError(f"bundling CodeMirror with esbuild failed ({error})") from error


# ---------------------------------------------------------------- dist/ assembly

def copy_if_changed(source, target):
    """Copy unless target already has the same size and mtime (keeps warm rebuilds fast)."""
    if target.exists():
        s, t = source.stat(), target.stat()
        if s.st_size == t.st_size and int(s.st_mtime) == int(t.st_mtime):
            return
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source, target)


# wat2wasm from the npm package wabt (package.json devDependencies): WebAssembly text in, binary out.
WAT2WASM = """
const fs = require("fs");
require("wabt")().then(wabt => {
  const module = wabt.parseWat("stdin", fs.readFileSync(0, "utf8"), {simd: true, relaxed_simd: true});
  process.stdout.write(Buffer.from(module.toBinary({}).buffer));
});
"""


RELAXED_MADD = re.compile(r"\(f32x4\.relaxed_madd (\(local\.get \$\w+\)) (\(local\.get \$\w+\)) (\(local\.get \$\w+\))\)")


def without_relaxed_simd(wat):
    """The same module for engines without relaxed SIMD: each a*b+c fused multiply-add as a multiply, then an add."""
    plain = RELAXED_MADD.sub(r"(f32x4.add (f32x4.mul \1 \2) \3)", wat)
    if "(f32x4.relaxed_" in plain:
        raise BuildError("a relaxed SIMD instruction not of the form (f32x4.relaxed_madd (local.get a) (local.get b) (local.get c))")
    return plain


def side_modules(wat_path):
    """A .wat file → {file name: Emscripten side module}: NAME.so as written and, if it uses relaxed SIMD,
    NAME_simd128.so without it (the package loads the first one the engine accepts)."""
    wat = wat_path.read_text()
    modules = {wat_path.with_suffix(".so").name: assemble_side_module(wat, wat_path.name)}
    if "(f32x4.relaxed_" in wat:
        modules[f"{wat_path.stem}_simd128.so"] = assemble_side_module(without_relaxed_simd(wat), wat_path.name)
    return modules


def assemble_side_module(wat, name):
    """WebAssembly text → an Emscripten side module (.so) that Pyodide's dlopen (ctypes.CDLL) loads into its own memory.

    A side module is a wasm module whose first section is the custom section "dylink.0"; ours needs no memory or
    table of its own, so its one subsection (MEM_INFO) is four zeros.
    """
    if not (ROOT / "node_modules" / "wabt").exists():
        raise BuildError("node_modules/wabt missing: run `npm ci`")
    try:
        wasm = subprocess.run(["node", "-e", WAT2WASM], input=wat.encode(), capture_output=True, cwd=ROOT, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as error:
        raise BuildError(f"assembling {name} failed: {getattr(error, 'stderr', b'').decode() or error}") from error
    if wasm[:8] != b"\0asm\x01\0\0\0":
        raise BuildError(f"assembling {name} gave no wasm module")
    name = b"dylink.0"
    mem_info = bytes([1, 4, 0, 0, 0, 0])  # subsection 1 (MEM_INFO), 4 bytes: memory size/align, table size/align
    content = bytes([len(name)]) + name + mem_info
    return wasm[:8] + bytes([0, len(content)]) + content + wasm[8:]


# Pyodide ships Python sources only (its stdlib zip and the numpy/regex wheels hold no .pyc), so every page
# load compiled ~200 modules from source: ~2.5 s of a ~6 s cold start. We compile them once here, with the
# very Python the page runs (Pyodide under Node, so the bytecode's magic number matches), as unchecked
# hash-based .pyc: Python then loads them without checking source timestamps, which the page's in-memory
# filesystem does not keep. The stdlib .pyc go next to their .py in python_stdlib.zip (zipimport prefers them);
# the wheels' .pyc go in packages-bytecode.zip as __pycache__/ entries the worker unpacks into site-packages.
# The verified wheels themselves ship unchanged.
BYTECODE_NODE = """
import fs from "node:fs";
import { pathToFileURL } from "node:url";
const [indexDir, outDir, script] = process.argv.slice(1);
const { loadPyodide } = await import(pathToFileURL(indexDir + "/pyodide.mjs"));
const pyodide = await loadPyodide({ indexURL: indexDir + "/" });
await pyodide.loadPackage(%s, { messageCallback: () => {} });
pyodide.FS.mkdirTree("/out");
pyodide.FS.mount(pyodide.FS.filesystems.NODEFS, { root: outDir }, "/out");
pyodide.runPython(fs.readFileSync(script, "utf8"));
"""
BYTECODE_PYTHON = """
import compileall, py_compile, site, sys, zipfile
from pathlib import Path

UNCHECKED = py_compile.PycInvalidationMode.UNCHECKED_HASH
EPOCH = (1980, 1, 1, 0, 0, 0)

def add(archive, name, data):
    info = zipfile.ZipInfo(name, EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)

(stdlib,) = [entry for entry in sys.path if entry.endswith(".zip")]
scratch = Path("/tmp/stdlib")
with zipfile.ZipFile(stdlib) as source, zipfile.ZipFile("/out/python_stdlib.zip", "w") as target:
    for info in source.infolist():
        data = source.read(info)
        add(target, info.filename, data)
        if info.filename.endswith(".py"):
            path = scratch / info.filename
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
            # dfile: the path tracebacks name, where zipimport finds the module
            py_compile.compile(str(path), cfile=f"{path}c", dfile=f"{stdlib}/{info.filename}", doraise=True,
                               invalidation_mode=UNCHECKED)
            add(target, info.filename + "c", Path(f"{path}c").read_bytes())

site_packages = Path(site.getsitepackages()[0])  # holds only what the wheels installed
if not compileall.compile_dir(site_packages, quiet=1, invalidation_mode=UNCHECKED):
    raise SystemExit("compiling the wheels' modules failed")
with zipfile.ZipFile("/out/packages-bytecode.zip", "w") as target:
    for path in sorted(site_packages.rglob("*.pyc")):
        add(target, str(path.relative_to(site_packages)), path.read_bytes())
"""


def compile_bytecode(lock, cache_dir):
    """(python_stdlib.zip with .pyc beside each .py, packages-bytecode.zip), built once per runtime and cached."""
    stdlib = PYODIDE_NPM_DIR / "python_stdlib.zip"
    key = hashlib.sha256("\n".join([PYODIDE_VERSION, sha256_of(stdlib), BYTECODE_NODE, BYTECODE_PYTHON] +
                                    [lock["packages"][name]["sha256"] for name in WHEEL_PACKAGES]).encode()).hexdigest()
    cached = cache_dir / "bytecode" / key[:16]
    outputs = (cached / "python_stdlib.zip", cached / "packages-bytecode.zip")
    if all(path.exists() for path in outputs):
        return outputs
    log("compiling the standard library and the wheels to bytecode with Pyodide (once per runtime version)")
    with tempfile.TemporaryDirectory(prefix="gpt2cells-bytecode-") as staging:
        runtime, out = Path(staging) / "runtime", Path(staging) / "out"
        runtime.mkdir()
        out.mkdir()
        for name in PYODIDE_CORE_FILES:
            shutil.copy2(PYODIDE_NPM_DIR / name, runtime / name)
        for name in WHEEL_PACKAGES:
            shutil.copy2(cache_dir / "wheels" / lock["packages"][name]["file_name"], runtime)
        (runtime / "pyodide-lock.json").write_text(json.dumps(trimmed_lock(lock)))
        (runtime / "compile.py").write_text(BYTECODE_PYTHON)
        command = ["node", "--input-type=module", "-e", BYTECODE_NODE % json.dumps(WHEEL_PACKAGES),
                   str(runtime), str(out), str(runtime / "compile.py")]
        try:
            subprocess.run(command, capture_output=True, check=True, cwd=ROOT)
        except (OSError, subprocess.CalledProcessError) as error:
            raise BuildError(f"compiling bytecode in Pyodide failed: {getattr(error, 'stderr', b'').decode()[-2000:] or error}") from error
        cached.mkdir(parents=True, exist_ok=True)
        for path in outputs:
            os.replace(out / path.name, path)
            path.chmod(0o644)
    return outputs


def package_gpt2cells(target):
    """py/gpt2cells as a zip with gpt2cells/ at its root; the worker unpacks it into site-packages.

    Its .wat files go in assembled, as the .so side modules the package loads in Pyodide.
    """
    package_dir = ROOT / "py" / "gpt2cells"
    files = sorted(p for p in package_dir.rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc")
    if not files:
        raise BuildError(f"{package_dir} has no files")
    partial = target.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files:
            name = path.relative_to(package_dir.parent)
            members = ({name.with_name(so): data for so, data in side_modules(path).items()} if path.suffix == ".wat"
                       else {name: path.read_bytes()})
            for member, data in members.items():
                info = zipfile.ZipInfo(str(member).replace(os.sep, "/"), ZIP_EPOCH)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                archive.writestr(info, data)
    os.replace(partial, target)
    return len(files)


def write_weights_format(target):
    """dist/weights-format.js: the weights contract of py/gpt2cells/weights_format.py (its one source) as an ES
    module of constants and shape rules, which site/weights-manifest.js imports."""
    contract = runpy.run_path(str(ROOT / "py" / "gpt2cells" / "weights_format.py"))
    names = ["FORMAT_NAME", "FORMAT_VERSION", "MANIFEST_ENTRY", "TENSOR_ALIGNMENT", "DTYPES", "CONFIG_KEYS",
             "TOKENIZER_FILES", "SHAPE_RULES"]
    lines = ["// Generated by build.py from py/gpt2cells/weights_format.py; edit that file, not this one.", ""]
    lines += [f"export const {name} = {json.dumps(contract[name])};" for name in names]
    text = "\n".join(lines) + "\n"
    if not target.exists() or target.read_text() != text:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)


def write_service_worker(out_dir):
    """Stamp dist/sw.js with this build's id (a digest of every other file in dist/) and the files it keeps
    for offline use (all but source maps). Any change to dist/ is a new sw.js, which is how a visitor's browser
    learns of a new deploy. Returns the build id."""
    out_dir = Path(out_dir)
    files = sorted(path for path in out_dir.rglob("*") if path.is_file() and path.name != "sw.js")
    digest = hashlib.sha256()
    for path in files:
        digest.update(f"{path.relative_to(out_dir).as_posix()}\0{sha256_of(path)}\n".encode())
    build_id = digest.hexdigest()[:16]
    precache = [path.relative_to(out_dir).as_posix() for path in files if path.suffix != ".map"]
    template = (ROOT / "site" / "sw.js").read_text()
    stamped = template.replace('const BUILD_ID = "dev";', f"const BUILD_ID = {json.dumps(build_id)};")
    stamped = stamped.replace("const PRECACHE = [];", f"const PRECACHE = {json.dumps(precache, indent=1)};")
    if stamped.count(build_id) != 1 or "const PRECACHE = [\n" not in stamped:
        raise BuildError("site/sw.js lost its `const BUILD_ID = \"dev\";` or `const PRECACHE = [];` line: "
                         "build.py stamps those two lines")
    (out_dir / "sw.js").write_text(stamped)
    return build_id


def check_content_security_policy(index_html):
    """The page must carry its CSP (GitHub Pages sends no headers, so the meta tag is the only policy)."""
    text = Path(index_html).read_text()
    match = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)"', text)
    if not match or "default-src 'self'" not in match.group(1) or "'unsafe-eval'" in match.group(1):
        raise BuildError(f"{index_html}: the Content-Security-Policy meta tag is missing or allows eval; "
                         "see docs/page.md")


def build(out_dir=None, cache_dir=None):
    """Build dist/ and return a summary dict (also written to dist/build-info.json)."""
    started = time.monotonic()
    out_dir = Path(out_dir or ROOT / "dist").resolve()
    cache_dir = Path(cache_dir or DEFAULT_CACHE).expanduser().resolve()
    lock = ensure_pyodide_npm()
    sources = resolve_wheels(lock, cache_dir)  # verified before anything is written to dist/
    for file_name, source in sources.items():
        log(f"{file_name}: sha256 ok (source: {source})")

    expected = set()
    site_dir = ROOT / "site"
    for path in sorted(site_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            relative = path.relative_to(site_dir)
            copy_if_changed(path, out_dir / relative)
            expected.add(out_dir / relative)
    write_weights_format(out_dir / "weights-format.js")
    expected.add(out_dir / "weights-format.js")
    runtime_dir = out_dir / "pyodide"
    bytecode = compile_bytecode(lock, cache_dir)
    for name in PYODIDE_CORE_FILES:
        if name != "python_stdlib.zip":  # shipped compiled (compile_bytecode)
            copy_if_changed(PYODIDE_NPM_DIR / name, runtime_dir / name)
            expected.add(runtime_dir / name)
    for path in bytecode:
        copy_if_changed(path, runtime_dir / path.name)
        expected.add(runtime_dir / path.name)
    for name in WHEEL_PACKAGES:
        entry = lock["packages"][name]
        target = runtime_dir / entry["file_name"]
        if not target.exists() or sha256_of(target) != entry["sha256"]:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(cache_dir / "wheels" / entry["file_name"], target)
            try:  # what ships is what we checked, even if the cache changed under us
                check_sha256(target, entry["sha256"], entry["file_name"], "the cache")
            except BuildError:
                target.unlink()
                raise
        expected.add(target)
    lock_path = runtime_dir / "pyodide-lock.json"
    lock_path.write_text(json.dumps(trimmed_lock(lock), indent=1))
    expected.add(lock_path)
    package_files = package_gpt2cells(out_dir / "gpt2cells.zip")
    expected.add(out_dir / "gpt2cells.zip")
    bundle_codemirror(out_dir / "vendor" / "codemirror.js")
    expected.add(out_dir / "vendor" / "codemirror.js")

    info = {
        "pyodide": PYODIDE_VERSION,
        "python": lock["info"]["python"],
        "packages": {name: lock["packages"][name]["version"] for name in WHEEL_PACKAGES},
        "wheel_sources": sources,
        "gpt2cells_files": package_files,
        "models": sorted(str(p.relative_to(out_dir)) for p in (out_dir / "models").glob("*.zip")),
    }
    info_path = out_dir / "build-info.json"
    info_path.write_text(json.dumps(info, indent=1))
    expected.add(info_path)
    check_content_security_policy(out_dir / "index.html")

    for path in sorted(out_dir.rglob("*"), reverse=True):  # drop files no longer produced
        if path.is_file() and path not in expected:
            path.unlink()
        elif path.is_dir() and not any(path.iterdir()):
            path.rmdir()
    info["build_id"] = write_service_worker(out_dir)  # last: its id covers every other file
    log(f"service worker stamped with build {info['build_id']}")
    log(f"dist ready at {out_dir} in {time.monotonic() - started:.1f}s")
    return info


# ---------------------------------------------------------------- static server

class DistRequestHandler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".mjs": "application/javascript",
        ".js": "application/javascript",
        ".wasm": "application/wasm",
        ".json": "application/json",
        ".map": "application/json",
        ".whl": "application/zip",
        ".zip": "application/zip",
        ".css": "text/css",
        ".html": "text/html",
    }
    quiet = False
    base = "/"  # the site's path on the server: "/repo/" serves dist/ as GitHub Pages serves a project site

    def translate_path(self, path):
        if not path.startswith(self.base):
            return str(Path(self.directory) / "\0not-under-base")  # 404, like any missing file
        return super().translate_path("/" + path[len(self.base):])

    def do_GET(self):
        if self.path == self.base.rstrip("/") and self.base != "/":
            self.send_response(301)
            self.send_header("Location", self.base)
            self.end_headers()
            return
        super().do_GET()

    def end_headers(self):
        # like a static host: the browser keeps files (and V8 its compiled wasm) but revalidates each load, so a
        # rebuilt dist/ is picked up on reload (If-Modified-Since → 304 otherwise)
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()

    def log_message(self, format, *args):
        if not self.quiet:
            super().log_message(format, *args)


def make_server(dist_dir, host="127.0.0.1", port=0, quiet=False, base="/"):
    """A ThreadingHTTPServer serving dist_dir at path `base` ("/repo/" for a subpath); port 0 picks a free port
    (see server.server_address)."""
    base = f"/{base.strip('/')}/".replace("//", "/")
    handler = functools.partial(type("Handler", (DistRequestHandler,), {"quiet": quiet, "base": base}),
                                directory=str(dist_dir))
    return http.server.ThreadingHTTPServer((host, port), handler)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", nargs="?", choices=["build", "serve"], default="build")
    parser.add_argument("--out", type=Path, default=ROOT / "dist", help="output directory (default: dist/)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE,
                        help="download cache; wheels live in CACHE/wheels (default: $GPT2CELLS_CACHE or "
                             "~/.cache/gpt2cells)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--base", default="/", help="serve the site under this path, e.g. /gpt2-cells/ "
                                                    "(as GitHub Pages serves a project site)")
    args = parser.parse_args(argv)
    try:
        build(args.out, args.cache)
    except BuildError as error:
        print(f"[build] FAILED: {error}", file=sys.stderr)
        return 1
    if args.command == "serve":
        try:
            server = make_server(args.out, args.host, args.port, base=args.base)
        except OSError as error:
            print(f"[build] cannot serve on {args.host}:{args.port} ({error}); try --port N", file=sys.stderr)
            return 1
        host, port = server.server_address[:2]
        base = f"/{args.base.strip('/')}/".replace("//", "/")
        print(f"Serving {args.out} at http://{host}:{port}{base}  (Ctrl+C to stop)", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
