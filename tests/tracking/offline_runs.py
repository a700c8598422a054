"""Read a W&B offline run back: its group, job type, tags, name, config, summary and history.

wandb 0.31 writes no ``files/config.yaml`` nor ``files/wandb-summary.json`` offline (they are
made when the run is synced), and its Python reader of the ``run-<id>.wandb`` log is gone. The
log is LevelDB's log format (https://github.com/google/leveldb/blob/main/doc/log_format.md)
after a 7-byte W&B header, each entry one ``wandb.proto.wandb_internal_pb2.Record``: this
module reads it with wandb's own protobuf classes, which is what ``wandb sync`` uploads.
Tables and images logged by the run are files under ``files/media/``.
"""

from __future__ import annotations

import json
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HEADER = 7  # ":W&B", a uint16 magic, a uint8 version; also the size of each record header
BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


@dataclass
class OfflineRun:
    """What an offline run recorded (config and summary with nested keys folded)."""

    folder: Path
    group: str
    job_type: str
    tags: list[str]
    name: str
    config: dict[str, Any] = field(default_factory=dict)
    summary: dict[str, Any] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)

    def media(self, kind: str, key: str) -> list[Path]:
        """The files of a logged table or image key (``kind``: ``table`` or ``images``)."""
        prefix, _, stem = key.rpartition("/")
        where = self.folder / "files" / "media" / kind / prefix
        return sorted(where.glob(f"{stem}_*"))


def records(path: Path) -> Iterator[bytes]:
    """The entries of a LevelDB-format log after W&B's header."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run log"
    pos, parts = HEADER, []
    while pos + HEADER <= len(data):
        left = BLOCK - pos % BLOCK
        if left < HEADER:  # a block's trailer: zeros
            pos += left
            continue
        _, length, kind = struct.unpack("<IHB", data[pos : pos + HEADER])
        body = data[pos + HEADER : pos + HEADER + length]
        pos += HEADER + length
        if kind == FULL:
            yield body
        elif kind == FIRST:
            parts = [body]
        elif kind == MIDDLE:
            parts.append(body)
        elif kind == LAST:
            yield b"".join([*parts, body])
        elif length == 0:
            break


def _set(target: dict[str, Any], item: Any) -> None:
    path = list(item.nested_key) or [item.key]
    for part in path[:-1]:
        target = target.setdefault(part, {})
    target[path[-1]] = json.loads(item.value_json)


def read_offline_run(folder: Path, timeout: float = 60.0) -> OfflineRun:
    """Read ``<run dir>/wandb/offline-run-*`` (the folder holding ``run-<id>.wandb``).

    ``wandb.finish()`` can return before wandb's service process has flushed the log: it is
    read again until it holds the run's ``exit`` record, for up to ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        run, complete = _read(folder)
        if complete or time.monotonic() > deadline:
            assert run is not None, f"{folder} holds no run record"
            assert complete, f"{folder}: the run log has no exit record after {timeout:g} s"
            return run
        time.sleep(0.2)


def _read(folder: Path) -> tuple[OfflineRun | None, bool]:
    from wandb.proto import wandb_internal_pb2 as pb

    (log,) = folder.glob("run-*.wandb")
    run: OfflineRun | None = None
    complete = False
    config: dict[str, Any] = {}
    summary: dict[str, Any] = {}
    history: list[dict[str, Any]] = []
    for body in records(log):
        record = pb.Record()
        record.ParseFromString(body)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run = OfflineRun(folder, r.run_group, r.job_type, list(r.tags), r.display_name)
            for item in r.config.update:
                _set(config, item)
        elif kind == "config":
            for item in record.config.update:
                _set(config, item)
        elif kind == "summary":
            for item in record.summary.update:
                _set(summary, item)
        elif kind == "history":
            row: dict[str, Any] = {}
            for item in record.history.item:
                _set(row, item)
            history.append(row)
        elif kind == "exit":
            complete = True
    if run is not None:
        run.config, run.summary, run.history = config, summary, history
    return run, complete


def offline_runs(root: Path) -> list[OfflineRun]:
    """Every offline run under ``root`` (any depth), in path order."""
    return [read_offline_run(p) for p in sorted(root.glob("**/wandb/offline-run-*"))]
