"""Strings come back right from Python once the page worker's wasm memory is past 2 GiB (GPT-2 large and XL).

Pyodide 314.0.3 decodes a long ASCII str from a signed address, so above 2 GiB it read other bytes; the worker
routes such strings through py/gpt2cells/worker/buffers.py. A plain bytearray grows the heap past 2 GiB (no
model needed); the strings are then made until one lies above 2 GiB (its id() is its address), and the test
builds the same strings itself in CPython as the oracle.
"""
from __future__ import annotations

import json

SETUP = """
filler = bytearray(2 ** 31 - 2 ** 26)  # with the runtime's own ~0.2 GB: the heap past 2 GiB
texts = []
for i in range(20_000):  # until one lies above 2 GiB, where Pyodide misreads it
    texts.append("".join(f"{i:05d}:{j:06d};" for j in range(2000)))
    if id(texts[-1]) > 2 ** 31:
        break
text = texts[-1]
[i, id(text) > 2 ** 31, len(filler) > 0]
"""


def expected_text(i):
    return "".join(f"{i:05d}:{j:06d};" for j in range(2000))


def test_long_strings_above_2gib_come_back_right(ready_page, run_python, call_python):
    i, above, _ = run_python(ready_page, SETUP)
    assert above, "no string landed above 2 GiB: the test did not reach the case it is about"
    heap = ready_page.evaluate("() => window.gpt2cells.runtime.exec('import pyodide_js; pyodide_js._module.HEAPU8.length')"
                               ".then((result) => result.value)")
    assert heap > 2 ** 31
    text = expected_text(i)
    assert run_python(ready_page, "text") == text  # a str as exec's value
    assert run_python(ready_page, "{'text': text, 'list': [text, 'short', 3], 'n': len(text)}") == {
        "text": text, "list": [text, "short", 3], "n": len(text)}  # inside a dict and a list
    numbers = list(range(5000))
    assert call_python(ready_page, "json.dumps", [numbers]) == json.dumps(numbers)  # a str as a call's value
    assert run_python(ready_page, "'é' * 100 + text") == "é" * 100 + text  # not ASCII: UTF-8 both ways


REPORTER = """
import sys, types
reporter = types.ModuleType("past_2gib_reporter")  # runtime.call wants "module.function"
def report(progress):
    progress({"text": text, text: len(text), "list": [text]})
    return {text: "key"}
reporter.report = report
sys.modules[reporter.__name__] = reporter
"""


def test_progress_and_dict_keys_above_2gib_come_back_right(ready_page, run_python):
    i, above, _ = run_python(ready_page, SETUP)
    assert above, "no string landed above 2 GiB: the test did not reach the case it is about"
    run_python(ready_page, REPORTER)
    text = expected_text(i)
    assert run_python(ready_page, "{text: 1}") == {text: 1}  # a long key of exec's value
    result, reports = ready_page.evaluate("""async () => {
      const reports = [];
      const result = await window.gpt2cells.runtime.call("past_2gib_reporter.report", [], {},
                                                          { onProgress: (data) => reports.push(data) });
      return [result.value, reports];
    }""")
    assert result == {text: "key"}
    assert reports == [{"text": text, text: len(text), "list": [text]}]  # what a notebook run reports as it goes
