"""Where a stored zip entry's bytes start: the one zip local-header reader on the Python side.

The central directory (what zipfile lists) and an entry's local header may carry different extra fields,
so the data offset must come from the local header, as every reader of the file finds it.
"""
from __future__ import annotations

import struct
import zipfile

from .errors import WeightsError

LOCAL_HEADER = struct.Struct("<IHHHHHIIIHH")  # signature, version, flags, method, time, date, crc, sizes, name, extra
LOCAL_HEADER_SIGNATURE = b"PK\x03\x04"


def local_data_offset(f, info: zipfile.ZipInfo) -> tuple[int, int]:
    """(offset of the entry's data, compression method in its local header); f is the zip, seekable."""
    f.seek(info.header_offset)
    header = f.read(LOCAL_HEADER.size)
    if len(header) != LOCAL_HEADER.size or header[:4] != LOCAL_HEADER_SIGNATURE:
        raise WeightsError(f"zip entry {info.filename!r}: no local header at byte {info.header_offset}")
    fields = LOCAL_HEADER.unpack(header)
    method, name_length, extra_length = fields[3], fields[9], fields[10]
    return info.header_offset + LOCAL_HEADER.size + name_length + extra_length, method
