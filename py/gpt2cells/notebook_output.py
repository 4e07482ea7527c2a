"""Kept so that saved cells and exported notebooks with `from gpt2cells.notebook_output import Table` still run."""
from .notebook.table import Table

__all__ = ["Table"]
