"""The notebook tests again, inside Pyodide (Python 3.14, NumPy 2.x) under Node: the page runs this code there.

The runtime is the page's own (build.py's npm core and sha256-verified wheels); pytest is pure Python, so the
host's copy is mounted into Pyodide. The session tests' model is packed here on the host (torch cannot run in
Pyodide) and handed over through GPT2CELLS_SESSION_ZIP.
"""
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import build
from tests.notebook_session.test_default_notebook_session import pack_session_model
from tests.pyodide_host import node_and_wheels

ROOT = Path(__file__).resolve().parents[2]
PURE_PYTHON_TEST_PACKAGES = ["pytest", "_pytest", "pluggy", "iniconfig", "packaging", "pygments", "py.py"]

SCRIPT = '''
import os, sys
work = WORK_DIR  # set by tests/engine/pyodide_engine.mjs
sys.path[:0] = [f"{work}/lib", f"{work}/repo"]
os.chdir(f"{work}/repo")
os.environ["GPT2CELLS_SESSION_ZIP"] = f"{work}/session.zip"
print("python", sys.version.split()[0], flush=True)
import pytest
code = pytest.main(["-q", "-p", "no:cacheprovider", "tests/notebook", "tests/notebook_session"])
open(f"{work}/exit_code", "w").write(str(int(code)))
'''


def test_notebook_tests_pass_in_pyodide(tmp_path):
    node, wheels = node_and_wheels()
    site_packages = Path(sysconfig.get_paths()["purelib"])
    ignore = shutil.ignore_patterns("__pycache__", Path(__file__).name)  # this file needs the host
    (tmp_path / "lib").mkdir()
    for name in PURE_PYTHON_TEST_PACKAGES:
        if (site_packages / name).is_dir():
            shutil.copytree(site_packages / name, tmp_path / "lib" / name, ignore=ignore)
        else:
            shutil.copy(site_packages / name, tmp_path / "lib" / name)
    repo = tmp_path / "repo"
    for part in ("tests/notebook", "tests/notebook_session", "py/gpt2cells"):
        shutil.copytree(ROOT / part, repo / part, ignore=ignore)
    for part in ("pyproject.toml", "tests/model_factory.py", "site/models/adder.zip"):
        (repo / part).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / part, repo / part)
    pack_session_model(tmp_path / "model").rename(tmp_path / "session.zip")
    (tmp_path / "script.py").write_text(SCRIPT)
    run = subprocess.run([node, str(ROOT / "tests/engine/pyodide_engine.mjs"), str(build.PYODIDE_NPM_DIR),
                          str(repo / "py"), str(tmp_path), str(tmp_path / "script.py"), *wheels],
                         capture_output=True, text=True, timeout=600)
    report = "\n".join(line for line in (run.stdout + run.stderr).splitlines() if len(line) < 400)
    assert run.returncode == 0, report
    assert "python 3.14" in run.stdout and " passed" in run.stdout, report
    assert (tmp_path / "exit_code").read_text() == "0", report
    print(report, file=sys.stderr)
