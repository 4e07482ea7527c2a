"""The notebook tests again, inside Pyodide (Python 3.14, NumPy 2.x) under Node: the page runs this code there."""
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYODIDE = ROOT / "dist" / "pyodide"


def test_notebook_tests_pass_in_pyodide():
    node = shutil.which("node")
    if node is None or not any(PYODIDE.glob("numpy-*.whl")):
        pytest.skip("needs node and dist/pyodide with the numpy wheel (python build.py)")
    site_packages = Path(sysconfig.get_paths()["purelib"])
    run = subprocess.run(
        [node, str(Path(__file__).with_name("pyodide_runner.mjs")), str(ROOT), str(PYODIDE), str(site_packages)],
        capture_output=True, text=True, timeout=600,
    )
    report = "\n".join(line for line in (run.stdout + run.stderr).splitlines() if len(line) < 400)
    assert run.returncode == 0, report
    assert "python 3.14" in run.stdout and " passed" in run.stdout, report
    print(report, file=sys.stderr)
