"""The page's entry points (gpt2cells.worker.models / .notebook) called the way site/worker.js calls them:
a model sent as manifest JSON, raw tensor buffers and tokenizer texts, then the notebook opened on it.

Oracle: gpt2cells.load of the same zip (the engine, itself tested against Hugging Face)."""
from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

import gpt2cells
from gpt2cells.worker import models, notebook
from tests.notebook_session.test_default_notebook_session import pack_session_model


@pytest.fixture(scope="module")
def packed(tmp_path_factory) -> Path:
    zip_path = os.environ.get("GPT2CELLS_SESSION_ZIP")
    return Path(zip_path) if zip_path else pack_session_model(tmp_path_factory.mktemp("worker-model"))


def send(zip_path: Path) -> dict:
    """What the models panel does: begin_load, tensors a few per call, tokenizer files, finish_load."""
    with zipfile.ZipFile(zip_path) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        models.begin_load(json.dumps(manifest))
        tensors = manifest["tensors"]
        for start in range(0, len(tensors), 5):
            batch = tensors[start:start + 5]
            sent = models.put_tensors([t["name"] for t in batch], [archive.read(t["entry"]) for t in batch])
            assert sent == sum(t["nbytes"] for t in batch)
        for path in manifest["tokenizer"]["files"].values():
            models.put_file(path, archive.read(path).decode())
    return models.finish_load()


def test_loaded_model_gives_the_engines_logits(packed):
    summary = send(packed)
    reference = gpt2cells.load(packed)
    assert summary["name"] == "session-test" and models.loaded()["config"] == summary["config"]
    result = models.logits_for("the cat")
    logits = np.frombuffer(result["logits"], dtype=np.float32).reshape(result["shape"])
    assert result["ids"] == reference.encode("the cat")
    assert np.allclose(logits, reference.logits(result["ids"]), atol=1e-5)


def test_notebook_runs_on_the_model_the_worker_passes_in(packed):
    send(packed)
    reference = gpt2cells.load(packed)
    opened = notebook.open({})
    assert {cell["status"] for cell in opened["cells"]} == {"idle"}
    result = notebook.run("all", sources={"prompt": 'prompt = "the cat sat"'})
    assert {cell["status"] for cell in result["cells"]} == {"ok"}
    expected = reference.logits(reference.encode("the cat sat"))
    logits = next(cell["output"] for cell in result["cells"] if cell["id"] == "logits")
    window = np.frombuffer(notebook.output_slice("logits", "", 0, 0, 0, logits["rows"], 0, logits["cols"]), dtype="<f4")
    assert np.allclose(window.reshape(logits["rows"], logits["cols"]), expected, atol=1e-5)
    assert result["prediction"]["id"] == int(np.argmax(expected[-1]))
    assert notebook.token_text(result["prediction"]["id"]) == reference.decode([result["prediction"]["id"]])
    assert "# %% [gelu]" in notebook.export_notebook("py")


def test_a_new_model_closes_the_notebook_until_it_is_opened_again(packed):
    send(packed)
    notebook.open({})
    send(packed)
    with pytest.raises(RuntimeError, match="call open first"):
        notebook.run("all")
    models.cancel_load()
    assert models.loaded() is None
    with pytest.raises(RuntimeError, match="no model is loaded"):
        notebook.open({})
