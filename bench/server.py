"""The bench's own static server: bench/web/ pages, onnxruntime-web's files, dist/ and the cached models.

It sends COOP/COEP so its pages are cross-origin isolated (SharedArrayBuffer, hence onnxruntime-web's
threads). Everything is served from 127.0.0.1: no CDN. build.py's handler supplies MIME types and no-store.

    /           bench/web/
    /ort/       bench/node_modules/onnxruntime-web/dist/   (npm, pinned in bench/package.json)
    /dist/      dist/                                      (the built site: Pyodide + gpt2cells.zip)
    /models/    the shape's cache directory                (model-kv.onnx, the packed zip)
    /py/        bench/                                     (engine_timing.py for the Pyodide worker)
"""
from __future__ import annotations

import functools
import http.server
import subprocess
import threading
import urllib.parse
from pathlib import Path

from models import ROOT

import build  # noqa: E402  (ROOT is on sys.path via models)

BENCH = ROOT / "bench"
ORT_DIST = BENCH / "node_modules" / "onnxruntime-web" / "dist"


class IsolatedMountsHandler(build.DistRequestHandler):
    mounts: list[tuple[str, Path]] = []
    quiet = True

    def translate_path(self, path):
        url_path = urllib.parse.urlsplit(path).path
        for prefix, directory in self.mounts:
            if url_path.startswith(prefix):
                self.directory = str(directory)  # one handler instance per request
                return super().translate_path("/" + path[len(prefix):])
        return str(BENCH / "web" / "__not_mounted__")

    def end_headers(self):
        self.send_header("Cross-Origin-Opener-Policy", "same-origin")
        self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
        self.send_header("Cross-Origin-Resource-Policy", "same-origin")
        super().end_headers()


def ensure_onnxruntime_web():
    """bench/node_modules from bench/package-lock.json (onnxruntime-web, pinned), installed when missing."""
    if not (ORT_DIST / "ort.wasm.min.mjs").exists():
        subprocess.run(["npm", "ci", "--prefix", str(BENCH), "--no-audit", "--no-fund"], check=True)


def start(models_dir: Path, dist_dir: Path = ROOT / "dist"):
    """Serve in a daemon thread; returns (server, base_url). Stop with server.shutdown()."""
    ensure_onnxruntime_web()
    mounts = [("/ort/", ORT_DIST), ("/dist/", dist_dir), ("/models/", models_dir), ("/py/", BENCH),
              ("/", BENCH / "web")]
    handler = type("Handler", (IsolatedMountsHandler,), {"mounts": mounts})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(BENCH)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    host, port = server.server_address[:2]
    return server, f"http://{host}:{port}"
