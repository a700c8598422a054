"""Is a ``.safetensors`` file whole? Checked from its header alone, before anything loads it."""

from __future__ import annotations

from pathlib import Path


def safetensors_problem(path: Path) -> str | None:
    """What is wrong with a ``.safetensors`` file's framing, or None if it is whole.

    ``safetensors.safe_open`` reads only the header and checks that the tensors' data
    offsets cover the file exactly (no tensor data is read, so a 100 GB file costs what a
    100 kB one does). That catches a copy or a download that stopped early, which is how
    these files usually break, before a loader fails on it with a less helpful message.
    """
    from safetensors import SafetensorError, safe_open

    size = path.stat().st_size
    try:
        with safe_open(str(path), framework="pt"):
            return None
    except SafetensorError as err:
        return f"{size} bytes on disk; safetensors: {err}"
