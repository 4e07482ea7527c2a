"""site/hub-download.js in real Chromium against a local Hub stand-in (tests/browser/hub_server.py).

Oracles: the served files themselves (sha256 in Python of the bytes the page got), their sizes on disk, and the
server's own request log (which requests, which Range headers).
"""
from __future__ import annotations

import base64
import hashlib
import socket

import pytest

from tests.browser.hf_folders import save_folders
from tests.browser.hub_server import HubServer

# Runs in a page of the built site; returns the files (base64) and the progress events, or the error.
DOWNLOAD_JS = """async ([hub, repo, options]) => {
  const m = await import('./hub-download.js');
  const events = [];
  const base64 = (bytes) => {
    let text = '';
    for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    return btoa(text);
  };
  try {
    const files = await m.downloadHubModel(hub, repo, {...options, onProgress: (e) => events.push(e)});
    const out = [];
    for (const file of files) {
      out.push({name: file.name, isFile: file instanceof File,
                data: base64(new Uint8Array(await file.arrayBuffer()))});
    }
    return {ok: true, files: out, events};
  } catch (error) {
    return {ok: false, name: error.name, message: error.message, events};
  }
}"""

LIST_JS = """async ([hub, repo]) => {
  const m = await import('./hub-download.js');
  try {
    return {ok: true, ...await m.listHubModel(hub, repo)};
  } catch (error) {
    return {ok: false, name: error.name, message: error.message};
  }
}"""


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    found = save_folders(tmp_path_factory.mktemp("hf-folders"))
    broken = tmp_path_factory.mktemp("no-config")
    for name in ("model.safetensors", "vocab.json", "merges.txt"):
        (broken / name).write_bytes((found["hub"] / name).read_bytes())
    return {**found, "no-config": broken}


@pytest.fixture
def hub(folders):
    repos = {"org/tiny": folders["hub"], "gpt2": folders["tokjson"], "org/sharded": folders["sharded"],
             "org/no-config": folders["no-config"]}
    with HubServer(repos) as server:
        yield server


@pytest.fixture
def origin_page(page, site_url):
    """A page of the site's origin that does not boot Python (the modules under test need no worker)."""
    page.goto(site_url + "build-info.json")
    return page


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def downloaded(result) -> dict[str, bytes]:
    assert result["ok"], result
    assert all(file["isFile"] for file in result["files"])
    return {file["name"]: base64.b64decode(file["data"]) for file in result["files"]}


@pytest.mark.parametrize("repo, kind, names", [
    ("org/tiny", "hub", ["config.json", "vocab.json", "merges.txt", "model.safetensors"]),
    ("gpt2", "tokjson", ["config.json", "tokenizer.json", "model.safetensors"]),
    ("org/sharded", "sharded", ["config.json", "tokenizer.json", "model.safetensors.index.json",
                                "model-00001-of-00004.safetensors", "model-00002-of-00004.safetensors",
                                "model-00003-of-00004.safetensors", "model-00004-of-00004.safetensors"]),
])
def test_download_gets_the_served_bytes_after_listing_their_sizes(origin_page, site_url, hub, folders, repo, kind,
                                                                  names):
    seen = []
    origin_page.on("request", lambda request: seen.append(request.url))
    listing = origin_page.evaluate(LIST_JS, [hub.url, repo])
    assert listing["ok"], listing
    assert [file["name"] for file in listing["files"]] == names
    sizes = {name: (folders[kind] / name).stat().st_size for name in names}
    assert {file["name"]: file["size"] for file in listing["files"]} == sizes
    assert listing["total"] == sum(sizes.values())
    assert listing["host"] == hub.url.removeprefix("http://")
    assert not any("/resolve/" in path and path.endswith(".safetensors") for _, _, path, _ in hub.log)

    result = origin_page.evaluate(DOWNLOAD_JS, [hub.url, repo, {}])
    files = downloaded(result)
    assert list(files) == names
    for name, data in files.items():
        assert sha256(data) == sha256((folders[kind] / name).read_bytes()), name
    weights = [name for name in names if name.endswith(".safetensors")]
    assert {path.rsplit("/", 1)[1] for origin, _, path, _ in hub.log if origin == "cdn"} == set(weights)
    assert all(url.startswith((site_url, hub.url + "/", hub.cdn_url + "/")) for url in seen), seen  # no other origin
    last = result["events"][-1]
    assert last["loaded"] == last["total"] == listing["total"]
    assert all(set(event) == {"file", "loaded", "total", "bytesPerSecond", "secondsLeft"}
               for event in result["events"])
    loaded = [event["loaded"] for event in result["events"]]
    assert loaded == sorted(loaded)


def test_a_cut_connection_resumes_with_a_range_request(origin_page, hub, folders):
    served = (folders["hub"] / "model.safetensors").read_bytes()
    cut = len(served) // 2
    hub.cut_after["model.safetensors"] = cut
    files = downloaded(origin_page.evaluate(DOWNLOAD_JS, [hub.url, "org/tiny", {}]))
    assert sha256(files["model.safetensors"]) == sha256(served)
    requests = [(origin, header) for origin, method, _, header in hub.requests_for("model.safetensors")
                if method == "GET"]
    ranges = [header for origin, header in requests if origin == "cdn" and header]
    assert len(ranges) == 1, requests
    start = int(ranges[0].removeprefix("bytes=").removesuffix("-"))
    assert 0 < start <= cut  # the page asked for the rest, not the whole file again


def test_a_failed_reconnect_is_tried_again(origin_page, hub, folders):
    served = (folders["hub"] / "model.safetensors").read_bytes()
    hub.cut_after["model.safetensors"] = 400_000
    hub.refuse_resume["model.safetensors"] = 2  # the first two resume requests get no answer at all
    files = downloaded(origin_page.evaluate(DOWNLOAD_JS, [hub.url, "org/tiny", {}]))
    assert sha256(files["model.safetensors"]) == sha256(served)
    resumes = [(origin, header) for origin, method, _, header in hub.requests_for("model.safetensors")
               if method == "GET" and header]
    assert [origin for origin, _ in resumes] == ["hub", "hub", "hub", "cdn"], resumes
    assert len({header for _, header in resumes}) == 1  # each asks for the rest from the same byte


def test_a_server_that_answers_range_with_the_whole_file_cannot_resume(origin_page, hub, folders):
    hub.cut_after["model.safetensors"] = 300_000
    hub.ignore_range = True
    result = origin_page.evaluate(DOWNLOAD_JS, [hub.url, "org/tiny", {}])
    assert not result["ok"]
    assert result["name"] == "CannotResumeError"
    assert "the server cannot resume this download" in result["message"]
    assert "model.safetensors" in result["message"]


def test_cancel_rejects_with_an_abort_error(origin_page, hub):
    hub.hold_after["model.safetensors"] = 200_000  # the CDN stalls here until the page gives up
    outcome = origin_page.evaluate("""async ([hub, repo]) => {
      const m = await import('./hub-download.js');
      const controller = new AbortController();
      const events = [];
      const onProgress = (e) => {
        events.push(e);
        if (e.file === 'model.safetensors' && e.loaded > 0) controller.abort();
      };
      try {
        await m.downloadHubModel(hub, repo, {onProgress, signal: controller.signal});
        return {ok: true};
      } catch (error) {
        return {ok: false, name: error.name, files: events.map((e) => e.file)};
      }
    }""", [hub.url, "org/tiny"])
    assert outcome["ok"] is False
    assert outcome["name"] == "AbortError"
    assert outcome["files"][-1] == "model.safetensors"


def test_unknown_repo_and_missing_file_are_named(origin_page, hub):
    host = hub.url.removeprefix("http://")
    result = origin_page.evaluate(LIST_JS, [hub.url, "nobody/nothing"])
    assert result == {"ok": False, "name": "HubError", "message": f"no model nobody/nothing on {host}"}
    result = origin_page.evaluate(LIST_JS, [hub.url, "org/no-config"])
    assert result == {"ok": False, "name": "HubError", "message": "org/no-config has no config.json"}
    # A file the listing promised but the hub does not have: the resolve URL's 404 EntryNotFound.
    listing = {"repo": "org/tiny", "host": host, "total": 10,
               "files": [{"name": "gone.json", "size": 10, "url": f"{hub.url}/org/tiny/resolve/main/gone.json"}]}
    result = origin_page.evaluate(DOWNLOAD_JS, [hub.url, "org/tiny", {"listing": listing}])
    assert (result["ok"], result["message"]) == (False, "org/tiny has no gone.json")
    assert ("hub", "GET", "/org/tiny/resolve/main/gone.json", None) in hub.log


@pytest.mark.parametrize("repo", ["../etc/passwd", "a/b/c", "org/", "", "org/na me", "-x/y"])
def test_a_bad_repo_id_is_refused_before_any_request(origin_page, hub, repo):
    result = origin_page.evaluate(LIST_JS, [hub.url, repo])
    assert result["ok"] is False
    assert result["message"].startswith(f'"{repo}" is not a Hugging Face model id')
    assert hub.log == []


def test_an_unreachable_hub_is_named(origin_page):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = origin_page.evaluate(LIST_JS, [f"http://127.0.0.1:{port}", "org/tiny"])
    assert result["ok"] is False
    assert result["message"].startswith(f"could not reach 127.0.0.1:{port}")
