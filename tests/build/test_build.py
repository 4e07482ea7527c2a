"""build.py: sha256 policy for vendored wheels, offline warm rebuilds, and the server's MIME types."""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
from pathlib import Path

import pytest

import build

ROOT = Path(__file__).resolve().parents[2]
LOCK = json.loads((ROOT / "node_modules" / "pyodide" / "pyodide-lock.json").read_text())
DEAD_PROXY = "http://127.0.0.1:9"  # discard port: any network attempt fails at once


def lock_entry(name):
    return LOCK["packages"][name]


@pytest.fixture(scope="module")
def verified_wheels():
    """The default cache, filled by whatever source works here (cache, CDN or the PyPI fallback)."""
    build.resolve_wheels(build.ensure_pyodide_npm(), build.DEFAULT_CACHE)
    return build.DEFAULT_CACHE / "wheels"


def copy_cache(verified_wheels, cache_dir):
    (cache_dir / "wheels").mkdir(parents=True)
    for name in build.WHEEL_PACKAGES:
        file_name = lock_entry(name)["file_name"]
        shutil.copy2(verified_wheels / file_name, cache_dir / "wheels" / file_name)


def run_build(out_dir, cache_dir, offline=False):
    env = dict(os.environ)
    if offline:
        for key in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            env[key] = DEAD_PROXY
        env["PIP_INDEX_URL"] = DEAD_PROXY + "/simple"
        env["PIP_NO_INDEX"] = "1"
    return subprocess.run([sys.executable, str(ROOT / "build.py"), "--out", str(out_dir), "--cache", str(cache_dir)],
                          capture_output=True, text=True, env=env, timeout=600)


def test_lock_pins_the_runtime_we_document():
    assert LOCK["info"]["python"].startswith("3.14.")
    assert lock_entry("numpy")["version"] == "2.4.3"


def test_corrupted_cached_wheel_stops_the_build_and_is_not_shipped(verified_wheels, tmp_path):
    cache_dir, out_dir = tmp_path / "cache", tmp_path / "dist"
    copy_cache(verified_wheels, cache_dir)
    numpy_wheel = lock_entry("numpy")["file_name"]
    garbage = b"not a wheel" * 1000
    (cache_dir / "wheels" / numpy_wheel).write_bytes(garbage)

    result = run_build(out_dir, cache_dir, offline=True)

    assert result.returncode != 0
    assert numpy_wheel in result.stderr
    assert lock_entry("numpy")["sha256"] in result.stderr
    assert hashlib.sha256(garbage).hexdigest() in result.stderr
    shipped = list(out_dir.rglob("*.whl")) if out_dir.exists() else []
    assert shipped == []  # wheels are verified before dist/ is touched


def test_warm_cache_builds_offline_with_verified_wheels(verified_wheels, tmp_path):
    cache_dir, out_dir = tmp_path / "cache", tmp_path / "dist"
    copy_cache(verified_wheels, cache_dir)

    result = run_build(out_dir, cache_dir, offline=True)

    assert result.returncode == 0, result.stderr
    info = json.loads((out_dir / "build-info.json").read_text())
    assert set(info["wheel_sources"].values()) == {"cache"}
    assert "CDN unavailable" not in result.stdout + result.stderr
    for name in build.WHEEL_PACKAGES:
        entry = lock_entry(name)
        shipped = out_dir / "pyodide" / entry["file_name"]
        assert hashlib.sha256(shipped.read_bytes()).hexdigest() == entry["sha256"]
    shipped_lock = json.loads((out_dir / "pyodide" / "pyodide-lock.json").read_text())
    assert set(shipped_lock["packages"]) == set(build.WHEEL_PACKAGES)
    assert all((out_dir / "pyodide" / p["file_name"]).exists() for p in shipped_lock["packages"].values())


def test_gpt2cells_zip_holds_the_package(verified_wheels, tmp_path):
    import zipfile
    build.build(tmp_path / "dist", verified_wheels.parent)
    with zipfile.ZipFile(tmp_path / "dist" / "gpt2cells.zip") as archive:
        names = set(archive.namelist())
    expected = {str(p.relative_to(ROOT / "py")) for p in (ROOT / "py" / "gpt2cells").rglob("*.py")
                if "__pycache__" not in p.parts}
    assert "gpt2cells/__init__.py" in names
    assert expected <= names


def test_server_sends_module_and_wasm_mime_types(verified_wheels, tmp_path):
    dist = tmp_path / "dist"
    build.build(dist, verified_wheels.parent)
    server = build.make_server(dist, port=0, quiet=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        types = {path: opener.open(base + path).headers["Content-Type"]
                 for path in ["index.html", "worker.js", "pyodide/pyodide.mjs", "pyodide/pyodide.asm.wasm"]}
    finally:
        server.shutdown()
        server.server_close()
    assert types["index.html"].startswith("text/html")
    assert types["worker.js"].startswith("application/javascript")
    assert types["pyodide/pyodide.mjs"].startswith("application/javascript")
    assert types["pyodide/pyodide.asm.wasm"] == "application/wasm"


BYTECODE_CHECK = '''
import importlib.util, site, sys, zipfile
from pathlib import Path

def check(source, pyc, where):
    # flags 1: hash-based and unchecked; bytes 8..16: the hash of the source it was compiled from
    assert pyc[:4] == importlib.util.MAGIC_NUMBER, f"{where}: magic {pyc[:4]!r}"
    assert int.from_bytes(pyc[4:8], "little") == 1, f"{where}: flags {pyc[4:8]!r}"
    assert pyc[8:16] == importlib.util.source_hash(source), f"{where}: compiled from another source"

(stdlib,) = [entry for entry in sys.path if entry.endswith(".zip")]
with zipfile.ZipFile(stdlib) as archive:
    names = set(archive.namelist())
    sources = sorted(name for name in names if name.endswith(".py"))
    for name in sources:
        assert name + "c" in names, f"{name}: no .pyc"
        check(archive.read(name), archive.read(name + "c"), name)

site_packages = Path(site.getsitepackages()[0])
zipfile.ZipFile(Path(WORK_DIR) / "packages-bytecode.zip").extractall(site_packages)
package_sources = sorted(site_packages.rglob("*.py"))
for path in package_sources:
    check(path.read_bytes(), Path(importlib.util.cache_from_source(str(path))).read_bytes(), path)

import numpy, typing
assert Path(numpy.__cached__).exists() and typing.__spec__.origin.startswith(stdlib)
print(f"checked {len(sources)} stdlib and {len(package_sources)} package modules")
'''


def test_shipped_bytecode_matches_the_shipped_sources(verified_wheels, tmp_path):
    """Every .py the page can import ships with a .pyc that Pyodide's own Python accepts, made from that .py."""
    dist = tmp_path / "dist"
    build.build(dist, verified_wheels.parent)
    runtime = dist / "pyodide"
    (tmp_path / "check.py").write_text(BYTECODE_CHECK)
    wheels = [str(runtime / lock_entry(name)["file_name"]) for name in build.WHEEL_PACKAGES]
    run = subprocess.run(["node", str(ROOT / "tests/engine/pyodide_engine.mjs"), str(runtime), str(ROOT / "py"),
                          str(runtime), str(tmp_path / "check.py"), *wheels], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    checked = run.stdout.split()
    assert int(checked[1]) > 500 and int(checked[4]) > 100, run.stdout
