"""What a test needs to run Python inside Pyodide under Node: node itself and the page's verified wheels."""
from __future__ import annotations

import shutil

import pytest

import build


def node_and_wheels() -> tuple[str, list[str]]:
    """Node's path and the numpy/regex wheels build.py ships (sha256-checked); skips the test without node."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("needs node")
    lock = build.ensure_pyodide_npm()
    build.resolve_wheels(lock, build.DEFAULT_CACHE)
    return node, [str(build.DEFAULT_CACHE / "wheels" / lock["packages"][name]["file_name"])
                  for name in build.WHEEL_PACKAGES]
