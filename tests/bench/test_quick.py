"""Smoke test of the benchmark harness: `bench/run.py --quick --skip-browser` runs end to end and writes its
table as JSON. Speed is never asserted (numbers live in docs/benchmark.md); only that the harness works and
that the engine it times produced Hugging Face's greedy tokens."""
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_bench_runs_and_reports(tmp_path):
    report_path = tmp_path / "bench.json"
    env = {**os.environ, "GPT2CELLS_BENCH_CACHE": str(tmp_path / "cache")}  # no race with other runs' cache
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "run.py"), "--quick", "--skip-browser", "--repeats", "1",
         "--json", str(report_path)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| figure" in done.stdout

    report = json.loads(report_path.read_text())
    rows = {row["figure"]: row for row in report["rows"]}
    decode = rows["decode 64 greedy tokens (KV cache), 1 thread"]
    assert isinstance(decode["native"]["hf"], float) and isinstance(decode["native"]["gpt2cells"], float)
    assert rows["greedy tokens equal Hugging Face's"]["native"]["gpt2cells"] == "yes"
