"""docs/adder/train_adder.py (how the built-in model was made) is a script beside docs/adder.md, not a package
module: its folder goes on sys.path so the tests can `import train_adder`."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "docs" / "adder"))
