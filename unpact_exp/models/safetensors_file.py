"""Is a ``.safetensors`` file whole? Checked from its header alone, before anything loads it."""

from __future__ import annotations

import json
import struct
from pathlib import Path


def safetensors_problem(path: Path) -> str | None:
    """What is wrong with a ``.safetensors`` file's framing, or None if it is whole.

    The format is an 8-byte little-endian header length N, then N bytes of JSON whose
    tensors give ``data_offsets`` into the data that follows: the file must be exactly
    ``8 + N + the largest end offset`` bytes. Only the header is read (no tensor data),
    so this costs the same for a 100 kB and a 100 GB file, and catches a copy or a
    download that stopped early, which is how these files usually break.
    """
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) < 8:
            return f"{size} bytes, too short for a header"
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            return f"its header announces {length} bytes of metadata, the file has {size} bytes"
        try:
            header = json.loads(f.read(length))
        except ValueError:
            return "its header is not valid JSON"
    if not isinstance(header, dict):
        return "its header is not a JSON object"
    ends = [
        int(entry["data_offsets"][1])
        for name, entry in header.items()
        if name != "__metadata__" and isinstance(entry, dict) and "data_offsets" in entry
    ]
    expected = 8 + length + max(ends, default=0)
    if size != expected:
        return f"{size} bytes on disk, {expected} expected from its header"
    return None
