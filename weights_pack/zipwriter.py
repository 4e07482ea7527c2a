"""Write the zip: every entry STORED, tensor data starting on 64-byte boundaries, atomically.

zipfile does the CRCs, the central directory and Zip64; alignment comes from padding each local
header's extra field (an 0xD935 record, the id Android's zipalign uses) so the data after it lands on
a multiple of TENSOR_ALIGNMENT.
"""
from __future__ import annotations

import os
import shutil
import struct
import sys
import tempfile
import zipfile
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO, Iterable

from weights_pack.contract import TENSOR_ALIGNMENT
from weights_pack.errors import PackError

LOCAL_HEADER_SIZE = 30  # fixed part of a zip local file header
ALIGNMENT_EXTRA_ID = 0xD935
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)  # same input, same bytes
FREE_SPACE_ENV = "WEIGHTS_PACK_FREE_BYTES"  # overrides the measured free space (tests, dry runs)
ENTRY_OVERHEAD = 512  # local + central header, name twice, alignment padding twice, rounded up


class AlignedZipWriter:
    """A zipfile.ZipFile in STORED mode whose `add` can align an entry's data."""

    def __init__(self, file: BinaryIO):
        self.file = file
        self.zip = zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED, allowZip64=True)

    def add(self, name: str, chunks: Iterable, size: int, align: bool = False) -> int:
        """Write one entry from byte-like chunks totalling `size`; return the file offset of its data."""
        info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
        info.compress_type = zipfile.ZIP_STORED
        info.file_size = size  # known up front: zipfile then writes the final local header in one go
        info.external_attr = 0o644 << 16
        header_offset = self.file.tell()
        info.extra = alignment_padding(header_offset + LOCAL_HEADER_SIZE + len(name.encode())) if align else b""
        with self.zip.open(info, "w") as entry:
            data_offset = self.file.tell()
            for chunk in chunks:
                entry.write(chunk)
        if align and data_offset % TENSOR_ALIGNMENT:
            raise AssertionError(f"{name}: data at offset {data_offset} is not {TENSOR_ALIGNMENT}-byte aligned")
        return data_offset

    def __enter__(self):
        return self

    def __exit__(self, kind, error, traceback) -> None:
        """Finish the zip (central directory) on success; on failure just release zipfile's state —
        the temp file is about to be deleted, and zipfile must not touch it after it is closed."""
        try:
            self.zip.close()
        except Exception:
            if kind is None:
                raise


def alignment_padding(unpadded_data_offset: int) -> bytes:
    """An extra-field record that pushes the data to the next multiple of TENSOR_ALIGNMENT."""
    pad = -unpadded_data_offset % TENSOR_ALIGNMENT
    if pad == 0:
        return b""
    if pad < 6:  # the record is a 4-byte id + size header, then the 2-byte alignment (as zipalign writes)
        pad += TENSOR_ALIGNMENT
    return struct.pack("<HHH", ALIGNMENT_EXTRA_ID, pad - 4, TENSOR_ALIGNMENT) + bytes(pad - 6)


def check_output_path(out: Path, force: bool) -> None:
    """Refuse before any work: a directory, an existing file without --force, a missing parent."""
    if out.is_dir():
        raise PackError(f"output path {out} is a directory; give a file name such as {out / 'model.zip'}")
    if out.exists() and not force:
        raise PackError(f"{out} already exists; pass --force (force=True) to overwrite it")
    if not out.parent.is_dir():
        raise PackError(f"output folder {out.parent} does not exist")
    if not os.access(out.parent, os.W_OK):
        raise PackError(f"output folder {out.parent} is not writable")


def check_free_space(folder: Path, needed: int, free_bytes: int | None = None) -> None:
    """`free_bytes`, else $WEIGHTS_PACK_FREE_BYTES, else what the file system reports."""
    if free_bytes is None and os.environ.get(FREE_SPACE_ENV):
        try:
            free_bytes = int(os.environ[FREE_SPACE_ENV])
        except ValueError:
            raise PackError(f"{FREE_SPACE_ENV} must be a whole number of bytes, "
                            f"got {os.environ[FREE_SPACE_ENV]!r}") from None
    if free_bytes is None:
        free_bytes = shutil.disk_usage(folder).free
    if needed > free_bytes:
        raise PackError(f"not enough disk space in {folder}: the zip needs about {megabytes(needed)}, "
                        f"only {megabytes(free_bytes)} free")


def megabytes(n: int) -> str:
    return f"{n / 1e6:,.1f} MB"


@contextmanager
def atomic_output(out: Path):
    """Yield (file, temp path) in out's folder; rename over `out` only if the block finishes.

    Any exception, KeyboardInterrupt included, removes the temp file: no partial zip is ever left. That takes
    a Ctrl-C CPython only prints, too: one landing in a weakref callback or a __del__ (importlib's module locks
    run such) goes to sys.unraisablehook, and the conversion runs on (seen once in CI); it is noted there while
    the block runs, and raised before out is replaced.
    """
    dropped_ctrl_c, hook = [], sys.unraisablehook

    def unraisable(info):
        if issubclass(info.exc_type, KeyboardInterrupt):
            dropped_ctrl_c.append(info.exc_type)
        else:
            hook(info)

    fd, temp_name = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".partial")
    temp = Path(temp_name)
    sys.unraisablehook = unraisable
    try:
        with os.fdopen(fd, "w+b") as file:
            yield file, temp
        if dropped_ctrl_c:
            raise KeyboardInterrupt
        os.chmod(temp, 0o666 & ~current_umask())  # mkstemp makes 0600; a model file is for sharing
        os.replace(temp, out)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        sys.unraisablehook = hook


def current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
