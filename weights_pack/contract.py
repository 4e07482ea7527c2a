"""The zip contract, imported from gpt2cells.weights_format (the loader's side of the same contract).

Running `python -m weights_pack` from a checkout without installing the project leaves `py/` off sys.path;
the packer then finds gpt2cells next to itself rather than failing on an import.
"""
import sys
from pathlib import Path

try:
    import gpt2cells.weights_format as weights_format
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "py"))
    import gpt2cells.weights_format as weights_format

FORMAT_NAME = weights_format.FORMAT_NAME
FORMAT_VERSION = weights_format.FORMAT_VERSION
MANIFEST_ENTRY = weights_format.MANIFEST_ENTRY
TENSOR_ALIGNMENT = weights_format.TENSOR_ALIGNMENT
DTYPES = weights_format.DTYPES
DEFAULT_LAYER_NORM_EPSILON = weights_format.DEFAULT_LAYER_NORM_EPSILON
tensor_entry = weights_format.tensor_entry
expected_shapes = weights_format.expected_shapes
check_config = weights_format.check_config
