"""weights_pack: turn a GPT-2 checkpoint into the one STORED, 64-byte-aligned zip the page reads.

    python -m weights_pack convert SRC -o OUT.zip [--dtype float32|float16] [--force] [--name NAME]
    python -m weights_pack verify OUT.zip
    python -m weights_pack info OUT.zip

Python API: convert(src, out, ...) -> ConvertResult; verify(zip) -> VerifyReport; info(zip) -> manifest dict.
The zip format is docs/weights-format.md; names, shapes and the version come from gpt2cells.weights_format.
"""
__version__ = "0.1.0"

from weights_pack.errors import PackError
from weights_pack.packer import ConvertResult, convert
from weights_pack.verifier import VerifyReport, info, verify

__all__ = ["PackError", "ConvertResult", "VerifyReport", "convert", "verify", "info", "__version__"]
