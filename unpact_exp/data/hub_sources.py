"""Load one split of a dataset from a local snapshot or from the Hugging Face hub.

Every hub dataset we use (MUSE, WMDP, MMLU) stores one folder per config (subset)
with parquet shards named after the split, e.g. ``knowmem/forget_qa-00000-of-00001.parquet``
in ``muse-bench/MUSE-News`` or ``bio-retain-corpus/train-00000-of-00004.parquet`` in
``cais/wmdp-corpora``. A copy made with
``hf download --repo-type dataset ID --local-dir DIR`` keeps that layout, so a
local copy is used by pointing a ``path`` at ``DIR``; no hub access is needed then. The same
code reads the dataset viewer's ``refs/convert/parquet`` layout (``<subset>/<split>/0000.parquet``),
the default-config layout (``data/<split>-*.parquet``), the plain ``<subset>/<split>.jsonl``
files the synthetic benchmark writes, and one file per config at the root whose only split is
``train`` (``locuslab/TOFU``: ``forget01.json`` is config ``forget01``, split ``train``).

Without network every hub call retries for about 20 seconds, so a hub id is only tried when
:func:`unpact_exp.hub.hub_unavailable_reason` says the hub can be reached; otherwise only the
local HF cache is consulted (forced offline) and a :class:`DataError` explains how to point at a
local copy.
"""

from __future__ import annotations

import contextlib
import glob
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from unpact_exp.errors import DataError
from unpact_exp.hub import hub_error_message, hub_unavailable_reason

if TYPE_CHECKING:
    import datasets

EXPECTED_LAYOUT = (
    "expected the hub layout `<subset>/<split>-00000-of-00001.parquet` (what "
    "`hf download --repo-type dataset ID --local-dir DIR` writes), "
    "`<subset>/<split>/*.parquet`, or `<subset>/<split>.jsonl` / `.json` / `.parquet`"
)
_FILE_SUFFIXES = {".parquet": "parquet", ".jsonl": "json", ".json": "json"}


def candidate_patterns(root: str, subset: str | None, split: str) -> list[str]:
    """Glob patterns tried, in order, for ``split`` of ``subset`` under a snapshot ``root``.

    Parquet shards come first: MUSE repos also keep older ``verbmem/forget.json`` style files
    beside the parquet shards, with another schema, and those must not win.
    """
    folders = [os.path.join(root, subset)] if subset else [root, os.path.join(root, "data")]
    patterns = []
    for folder in folders:
        base = os.path.join(folder, split)
        patterns += [f"{base}-*.parquet", os.path.join(base, "*.parquet"), f"{base}.parquet"]
        patterns += [f"{base}.jsonl", f"{base}.json", f"{base}-*.jsonl", f"{base}-*.json"]
        patterns += [os.path.join(base, "*.jsonl"), os.path.join(base, "*.json")]
    if subset and split == "train":
        # One file per config at the root, its only split `train` (locuslab/TOFU's
        # `data_files: forget01.json`), tried last.
        base = os.path.join(root, subset)
        patterns += [f"{base}.json", f"{base}.jsonl", f"{base}.parquet"]
    return patterns


def resolve_local_files(
    path: str, subset: str | None, split: str, local_override: str
) -> list[str]:
    """The data files holding ``subset``/``split`` in the local copy at ``path``.

    ``path`` is a snapshot directory, or a single data file (then it is the whole split).

    Raises:
        DataError: ``path`` does not exist, or no file matches; the message lists every
            pattern tried and the expected layout.
    """
    root = os.path.expanduser(path)
    if os.path.isfile(root):
        if os.path.splitext(root)[1] not in _FILE_SUFFIXES:
            raise DataError(
                f"{local_override}={path!r} is a file but not .parquet, .jsonl or .json; "
                f"point it at a snapshot directory ({EXPECTED_LAYOUT})."
            )
        return [root]
    if not os.path.isdir(root):
        raise DataError(f"{local_override}={path!r} does not exist; {EXPECTED_LAYOUT}.")
    patterns = candidate_patterns(root, subset, split)
    for pattern in patterns:
        files = sorted(glob.glob(pattern))
        if files:
            return files
    raise DataError(
        f"No data files for subset {subset!r}, split {split!r} under {local_override}="
        f"{path!r}. Tried: {', '.join(patterns)}; {EXPECTED_LAYOUT}."
    )


def describe_files(files: Sequence[str]) -> str:
    """Name the files a split came from, compactly (first file and how many more)."""
    return files[0] if len(files) == 1 else f"{files[0]} (+{len(files) - 1} more shards)"


def describe_hub(hub_id: str, subset: str | None, split: str) -> str:
    """Name a hub split the way error messages do."""
    return (
        f"hub dataset '{hub_id}'" + (f" subset '{subset}'" if subset else "") + f" split '{split}'"
    )


def _is_blank_file(file: str) -> bool:
    """Whether a JSON(L) file holds only whitespace (stops at the first non-blank line)."""
    with open(file, encoding="utf-8") as handle:
        return not any(line.strip() for line in handle)


def _load_local(files: list[str]) -> datasets.Dataset:
    """Read local files with the ``parquet`` or ``json`` builder; empty files give 0 rows."""
    import datasets
    import pyarrow.parquet as pq

    kinds = {_FILE_SUFFIXES[os.path.splitext(f)[1]] for f in files}
    if len(kinds) > 1:
        raise DataError(f"Mixed parquet and JSON files for one split: {', '.join(files)}.")
    kind = kinds.pop()
    try:
        # The builders raise on files with no rows; the caller reports an empty split.
        if kind == "parquet" and sum(pq.ParquetFile(f).metadata.num_rows for f in files) == 0:
            return datasets.Dataset.from_dict({name: [] for name in pq.read_schema(files[0]).names})
        if kind == "json" and all(_is_blank_file(f) for f in files):
            return datasets.Dataset.from_dict({})
        return datasets.load_dataset(kind, data_files=files, split="train")
    except Exception as exc:  # any reader failure is a bad file for the user
        raise DataError(f"Cannot read {describe_files(files)}: {exc}") from exc


@contextlib.contextmanager
def forced_offline() -> Iterator[None]:
    """Make ``datasets`` and ``huggingface_hub`` behave as with ``HF_HUB_OFFLINE=1``.

    Both libraries read the environment flag once at import, so when the hub turns out to be
    unreachable without the flag set we switch their module flags for the one cache lookup.
    """
    import datasets.config
    import huggingface_hub.constants as hub_constants

    saved = (datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE)
    datasets.config.HF_HUB_OFFLINE = hub_constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        datasets.config.HF_HUB_OFFLINE, hub_constants.HF_HUB_OFFLINE = saved


def _load_hub(hub_id: str, subset: str | None, split: str, local_override: str) -> Any:
    """Load from the hub, or only from the local HF cache when the hub is unavailable."""
    import datasets

    reason = hub_unavailable_reason()
    context = forced_offline() if reason else contextlib.nullcontext()
    try:
        with context:
            return datasets.load_dataset(hub_id, subset, split=split)
    except Exception as exc:  # every failure gets the same actionable message
        if reason:
            reason = f"{reason}, and it is not in the local Hugging Face cache"
        else:
            reason = f"{type(exc).__name__}: {exc}"
        raise DataError(hub_error_message("dataset", hub_id, reason, local_override)) from exc


def load_split_with_origin(
    hub_id: str | None, path: str | None, subset: str | None, split: str, local_override: str
) -> tuple[datasets.Dataset, str]:
    """Like :func:`load_split`, also returning a description of where the rows came from."""
    if path:
        files = resolve_local_files(path, subset, split, local_override)
        return _load_local(files), describe_files(files)
    if not hub_id:
        raise DataError(f"No source for subset {subset!r} split {split!r}: set {local_override}.")
    return _load_hub(hub_id, subset, split, local_override), describe_hub(hub_id, subset, split)


def load_split(
    hub_id: str | None, path: str | None, subset: str | None, split: str, local_override: str
) -> datasets.Dataset:
    """Load one split, from the local copy at ``path`` if given, else from the hub id.

    Args:
        hub_id: hub dataset id (e.g. ``muse-bench/MUSE-News``); used only when ``path`` is None.
        path: local snapshot directory in the hub layout, or a single data file.
        subset: hub config name (``knowmem``, ``wmdp-bio``); None for single-config datasets.
        split: split name (``forget_qa``, ``test``, ``train``).
        local_override: the config key that sets ``path`` (e.g. ``data.path``), named in errors.

    Raises:
        DataError: no matching local file, an unreadable file, or the hub id cannot be loaded
            (fails within seconds when offline, naming ``local_override``).
    """
    return load_split_with_origin(hub_id, path, subset, split, local_override)[0]


def _is_blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, (list, tuple)):
        return len(value) == 0
    return False


def require_fields(ds: datasets.Dataset, fields: Sequence[str], where: str) -> None:
    """Check that ``ds`` has every field and no row with a blank value in them.

    Args:
        ds: the loaded split.
        fields: column names the caller reads (e.g. ``("question", "answer")``).
        where: the file(s) or hub split ``ds`` came from, named in the error.

    Raises:
        DataError: a field is missing (naming it, the fields present and ``where``), or a row has
            an empty/None value or an empty list (naming the row index, field and ``where``).
            Options inside a list (MC ``choices``) are not checked one by one.
    """
    missing = [f for f in fields if f not in ds.column_names]
    if missing:
        raise DataError(
            f"{where} has no field {missing[0]!r} (fields needed: {list(fields)}; "
            f"fields present: {ds.column_names})."
        )
    for name in fields:
        for index, value in enumerate(ds[name]):
            if _is_blank(value):
                raise DataError(f"Row {index} of {where} has an empty {name!r}.")
