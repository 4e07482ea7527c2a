"""A local stand-in for the Hugging Face Hub, as it answers a browser (docs: /work/shared/runtime-facts.md).

Two origins on 127.0.0.1: the hub and its CDN.
    hub  GET|HEAD /{org}/{repo}/resolve/{rev}/{file} (or /{repo}/resolve/...): small files 200 with
         Content-Length and ETag; large files (*.safetensors, or over LARGE_BYTES) 302 to the CDN with
         X-Linked-Size and X-Linked-Etag. GET /api/models/{repo}/tree/{rev}: [{type, path, size, lfs?}].
         Unknown repo: 401 + X-Error-Code: RepoNotFound (what the Hub tells anonymous callers);
         missing file: 404 + X-Error-Code: EntryNotFound.
    cdn  GET|HEAD /{repo}/{file}: honours Range (206, Content-Range, Accept-Ranges: bytes).
Both answer CORS preflights and expose the headers a browser needs.

Faults, set on the HubServer before or during a test:
    cut_after[file] = n     the first GET of `file` that sends its body is cut after n bytes (connection closed)
    hold_after[file] = n    every GET of `file` sends n bytes, then waits (until the client leaves or stop)
    refuse_resume[file] = n the next n GETs of `file` with a Range header are closed unanswered (network error)
    ignore_range = True     hub and CDN answer a Range request with 200 and the whole file (cannot resume)
    log                     [(origin, method, path, range header or None)] of every request

    with HubServer({"org/tiny": folder, "gpt2": folder2}) as hub:
        hub.url  # "http://127.0.0.1:<port>"
"""
from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
import urllib.parse
from pathlib import Path

LARGE_BYTES = 10 * 1024 * 1024
CHUNK = 64 * 1024
CUT_PAUSE_S = 0.5
HOLD_LIMIT_S = 60  # a held response gives up on its own, so stop() never waits on a vanished client for long
EXPOSED = ("X-Linked-Size, X-Linked-Etag, ETag, Content-Range, Accept-Ranges, Content-Length, X-Error-Code, "
           "X-Error-Message")
RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def is_large(path: Path) -> bool:
    return path.suffix == ".safetensors" or path.stat().st_size > LARGE_BYTES


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # one request per connection: nothing lingers after a test
    timeout = 30
    hub: "HubServer"
    origin: str

    def log_message(self, *args):  # the request log is hub.log
        pass

    def _start(self, status, headers=None, length=None):
        self.send_response(status)
        self.send_header("Access-Control-Allow-Origin", "*")
        self.send_header("Access-Control-Expose-Headers", EXPOSED)
        self.send_header("Connection", "close")
        for key, value in (headers or {}).items():
            self.send_header(key, str(value))
        if length is not None:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def _error(self, status, code, message):
        body = json.dumps({"error": message}).encode()
        self._start(status, {"X-Error-Code": code, "X-Error-Message": message,
                             "Content-Type": "application/json"}, len(body))
        if self.command != "HEAD":
            self.wfile.write(body)

    def _record(self):
        with self.hub.lock:
            self.hub.log.append((self.origin, self.command, self.path, self.headers.get("Range")))

    def do_OPTIONS(self):
        self._record()
        self._start(204, {
            "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
            "Access-Control-Allow-Headers": self.headers.get("Access-Control-Request-Headers", "*"),
            "Access-Control-Max-Age": "0",
        }, 0)

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        self._record()
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        with self.hub.lock:
            file = path.rsplit("/", 1)[-1]
            if self.command == "GET" and self.headers.get("Range") and self.hub.refuse_resume.get(file, 0) > 0:
                self.hub.refuse_resume[file] -= 1
                self.close_connection = True
                return
        try:
            if self.origin == "cdn":
                self._cdn(path)
            else:
                self._hub(path)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the browser went away (a cancelled download)

    def _repo_file(self, repo, file):
        folder = self.hub.repos.get(repo)
        if folder is None:
            self._error(401, "RepoNotFound", f"Repository Not Found for url: {self.path}.")
            return None
        target = (Path(folder) / file).resolve()
        if not file or Path(folder).resolve() not in target.parents or not target.is_file():
            self._error(404, "EntryNotFound", f"{file} does not exist on \"main\"")
            return None
        return target

    def _hub(self, path):
        tree = re.fullmatch(r"/api/models/(.+)/tree/([^/]+)/?", path)
        if tree:
            return self._tree(tree.group(1))
        resolve = re.fullmatch(r"/(.+?)/resolve/([^/]+)/(.+)", path)
        if not resolve:
            return self._error(404, "EntryNotFound", f"no route {path}")
        repo, file = resolve.group(1), resolve.group(3)
        target = self._repo_file(repo, file)
        if target is None:
            return
        etag = f'"{self.hub.etag(target)}"'
        if is_large(target):
            location = f"{self.hub.cdn_url}/{urllib.parse.quote(repo)}/{urllib.parse.quote(file)}"
            return self._start(302, {"Location": location, "X-Linked-Size": target.stat().st_size,
                                     "X-Linked-Etag": etag, "ETag": etag}, 0)
        self._send_file(target, file, {"ETag": etag}, honour_range=not self.hub.ignore_range)

    def _tree(self, repo):
        folder = self.hub.repos.get(repo)
        if folder is None:
            return self._error(401, "RepoNotFound", f"Repository Not Found for url: {self.path}.")
        items = []
        for path in sorted(Path(folder).iterdir()):
            if path.is_file():
                size = path.stat().st_size
                item = {"type": "file", "path": path.name, "size": size, "oid": self.hub.etag(path)[:40]}
                if is_large(path):
                    item["lfs"] = {"oid": self.hub.etag(path), "size": size, "pointerSize": 134}
                items.append(item)
            elif path.is_dir():
                items.append({"type": "directory", "path": path.name, "size": 0})
        body = json.dumps(items).encode()
        self._start(200, {"Content-Type": "application/json"}, len(body))
        if self.command != "HEAD":
            self.wfile.write(body)

    def _cdn(self, path):
        for repo in sorted(self.hub.repos, key=len, reverse=True):
            if path.startswith(f"/{repo}/"):
                target = self._repo_file(repo, path[len(repo) + 2:])
                if target is not None:
                    self._send_file(target, target.name, {"ETag": f'"{self.hub.etag(target)}"'},
                                    honour_range=not self.hub.ignore_range)
                return
        self._error(404, "EntryNotFound", f"no such object {path}")

    def _send_file(self, target: Path, file: str, headers: dict, honour_range: bool):
        size = target.stat().st_size
        start, end = 0, size  # [start, end)
        status = 200
        headers = {**headers, "Accept-Ranges": "bytes" if honour_range else "none",
                   "Content-Type": "application/octet-stream"}
        wanted = RANGE.match(self.headers.get("Range") or "")
        if honour_range and wanted:
            start = int(wanted.group(1))
            end = min(size, int(wanted.group(2)) + 1) if wanted.group(2) else size
            if start >= size:
                return self._start(416, {"Content-Range": f"bytes */{size}"}, 0)
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        self._start(status, headers, end - start)
        if self.command == "HEAD":
            return
        with self.hub.lock:
            cut = self.hub.cut_after.pop(file, None)
        hold = self.hub.hold_after.get(file)
        sent = 0
        with open(target, "rb") as f:
            f.seek(start)
            while start + sent < end:
                limit = min(CHUNK, end - start - sent)
                for stop_at in (cut, hold):
                    if stop_at is not None and sent < stop_at:
                        limit = min(limit, stop_at - sent)
                if cut is not None and sent >= cut:
                    self.wfile.flush()
                    # A browser drops the bytes still queued in a stream that errors: let the page read what
                    # was sent first, as on a real connection that carried data for a while before it broke.
                    self.hub.stopping.wait(CUT_PAUSE_S)
                    self.close_connection = True
                    return  # the socket closes with the body short of Content-Length
                if hold is not None and sent >= hold:
                    self.wfile.flush()
                    self.hub.stopping.wait(HOLD_LIMIT_S)
                    return
                block = f.read(limit)
                self.wfile.write(block)
                sent += len(block)


class HubServer:
    """The hub and CDN origins; a context manager. `repos`: {"org/name" or "name": folder of files}."""

    def __init__(self, repos: dict[str, Path]):
        self.repos = {repo: Path(folder) for repo, folder in repos.items()}
        self.cut_after: dict[str, int] = {}
        self.hold_after: dict[str, int] = {}
        self.refuse_resume: dict[str, int] = {}
        self.ignore_range = False
        self.log: list[tuple[str, str, str, str | None]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._etags: dict[Path, str] = {}
        self._servers = []
        self._threads = []

    def etag(self, path: Path) -> str:
        with self.lock:
            if path not in self._etags:
                self._etags[path] = _sha256(path)
            return self._etags[path]

    def _serve(self, origin):
        handler = type(f"{origin.title()}Handler", (_Handler,), {"hub": self, "origin": origin})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        server.daemon_threads = False
        server.block_on_close = True  # server_close() joins every request thread
        thread = threading.Thread(target=server.serve_forever, name=f"hub-{origin}")
        thread.start()
        self._servers.append(server)
        self._threads.append(thread)
        return f"http://127.0.0.1:{server.server_address[1]}"

    def start(self) -> "HubServer":
        self.cdn_url = self._serve("cdn")
        self.url = self._serve("hub")
        return self

    def stop(self):
        self.stopping.set()  # releases held responses
        for server in self._servers:
            server.shutdown()
            server.server_close()
        for thread in self._threads:
            thread.join()
        self._servers.clear()
        self._threads.clear()

    def requests_for(self, file: str) -> list[tuple[str, str, str, str | None]]:
        with self.lock:
            return [entry for entry in self.log if entry[2].split("?")[0].endswith("/" + file)]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
