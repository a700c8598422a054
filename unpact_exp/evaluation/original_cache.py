"""The original model's analysis, computed once per sweep and reused (issue 15, item 8).

Every job of a sweep that shares M0, the data and the evaluation settings computes the same
M0 analysis: greedy answers, correctness, UNPACT contributions and KeyTokens on the forget
items, and answers, ``known`` indices and contributions on the utility items. On SmolLM2 this
is the largest single cost of a short job, so it is stored on disk under
``<paths.cache_dir>/m0_analysis/<key>.json`` and read back by every later job.

The key is a SHA-256 over everything that can change those numbers:

- the model: its class, its config (``_name_or_path`` included: the path) and a fingerprint
  of every tensor of its ``state_dict`` (dtype, shape and bytes), so a retrained target at
  the same path gets a new key;
- the device type (CPU and GPU kernels differ in the last bits), the torch and transformers
  versions, and the source of ``unpact_exp/{unpact,evaluation,judge}/`` and
  ``unpact_exp/models/prompt.py`` (an entry written by other code is never reused);
- the tokenizer (its full serialisation or vocabulary, special tokens, padding side, chat
  template) and the prompt format;
- the items analysed (after the ``eval.max_*`` caps) and the in-context examples;
- every ``unpact`` and ``eval`` setting.

``focus_on_key``, ``probab`` and ``attacks`` are left out on purpose: they act only on M1
(the attacks read M0's answers, contributions and KeyTokens, which are in the entry), so a
sweep over them shares one entry.

Entries are JSON (floats round-trip exactly, so a reused analysis gives bit-identical
metrics), written to a temporary file and renamed into place (a reader never sees half an
entry). Jobs racing for the same key serialise on a file lock (``filelock``, an ``flock``) of
``<key>.lock``: the first
computes and writes, the others wait and read its entry instead of computing it again. An
entry that cannot be read (truncated, edited, another format) is recomputed with a warning.

Each entry records its own key and the inputs it was computed from (``material``, the JSON
the key hashes), and both are verified on read: an entry copied or renamed under another
key (the analysis for ``unpact.alpha=0.22`` placed under the ``alpha=0.5`` key gave the wrong
keytoken similarity without a word) is recomputed with a warning naming the inputs that
differ.

A cache folder that cannot be written (read-only, full, another user's) never stops a run:
the analysis is computed without the cache, with a warning naming the folder.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import torch
from filelock import FileLock

from unpact_exp.evaluation.tasks import Answers, TaskContext
from unpact_exp.unpact.contributions import PromptContributions

FORMAT = 3  # bump when the entry layout changes: old entries then miss instead of misreading
SUBDIR = "m0_analysis"
NOT_IN_KEY = ("cache_original", "heatmap_questions", "attack_questions")
"""``eval`` settings that do not change M0's analysis (the switch itself, a plot's size)."""
log = logging.getLogger(__name__)
T = TypeVar("T")


def weights_fingerprint(model: torch.nn.Module) -> str:
    """SHA-256 over every tensor of the model's state dict: name, dtype, shape and bytes."""
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        flat = tensor.detach().to("cpu").contiguous().reshape(-1)
        digest.update(f"{name}|{flat.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(flat.view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """SHA-256 of what decides a tokenizer's ids: its full definition and its settings."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    body = (
        backend.to_str()
        if backend is not None
        else json.dumps(sorted(tokenizer.get_vocab().items()))
    )
    settings = {
        "class": type(tokenizer).__name__,
        "special": getattr(tokenizer, "special_tokens_map", {}),
        "padding_side": getattr(tokenizer, "padding_side", None),
        "chat_template": getattr(tokenizer, "chat_template", None),
        "add_bos": getattr(tokenizer, "add_bos_token", None),
    }
    return hashlib.sha256(
        (body + json.dumps(settings, sort_keys=True, default=str)).encode()
    ).hexdigest()


CODE_FOLDERS = ("unpact", "evaluation", "judge")
"""The packages whose source computes M0's analysis (part of every cache key)."""


def code_fingerprint() -> str:
    """SHA-256 of the source that computes M0's analysis (the packages ``unpact/``,
    ``evaluation/`` and ``judge/``, and prompt rendering), so an entry written by older code
    is never read by newer code."""
    package = Path(__file__).resolve().parents[1]
    files = [
        *(path for folder in CODE_FOLDERS for path in sorted((package / folder).glob("*.py"))),
        package / "models" / "prompt.py",
    ]
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _model_identity(model: torch.nn.Module) -> dict[str, Any]:
    config = getattr(model, "config", None)
    as_dict = config.to_dict() if config is not None and hasattr(config, "to_dict") else {}
    device = next(iter(model.parameters()), torch.empty(0)).device.type
    return {
        "class": type(model).__name__,
        "config": as_dict,
        "weights": weights_fingerprint(model),
        "device": device,
    }


class AnalysisKey(str):
    """A cache key (the hex digest) that also carries the inputs it hashes (``material``).

    A ``str``, so it names files and compares like any key; :func:`load_or_compute` records
    ``material`` in the entry and checks it on read.
    """

    material: dict[str, Any]

    def __new__(cls, material: dict[str, Any]) -> AnalysisKey:
        key = super().__new__(cls, key_of(material))
        key.material = material
        return key


def canonical(material: dict[str, Any]) -> str:
    """The JSON text a key hashes (sorted keys; non-JSON values as their ``str``)."""
    return json.dumps(material, sort_keys=True, default=str)


def key_of(material: dict[str, Any]) -> str:
    """SHA-256 of :func:`canonical` ``material``."""
    return hashlib.sha256(canonical(material).encode()).hexdigest()


def analysis_key(
    model: torch.nn.Module,
    ctx: TaskContext,
    retain_icl: Sequence[Any],
    forget: Sequence[tuple[str, Sequence[Any]]],
    utility: Sequence[tuple[str, Sequence[Any]]],
) -> AnalysisKey:
    """The content address of M0's analysis (see the module docstring for what it covers).

    Args:
        model: M0.
        ctx: the task context (tokenizer, prompt format, forget ICL examples, unpact, eval).
        retain_icl: the in-context examples of retain and utility prompts.
        forget: ``(kind, items)`` per analysed forget group, in analysis order.
        utility: ``(name, items)`` per analysed utility group, in analysis order.
    """
    import transformers

    material = {
        "format": FORMAT,
        "code": code_fingerprint(),
        "model": _model_identity(model),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "tokenizer": tokenizer_fingerprint(ctx.tokenizer),
        "prompt_format": vars(ctx.prompt_format),
        "icl": [dataclasses.asdict(i) for i in ctx.icl],
        "retain_icl": [dataclasses.asdict(i) for i in retain_icl],
        "unpact": dataclasses.asdict(ctx.unpact),
        "eval": {k: v for k, v in dataclasses.asdict(ctx.eval).items() if k not in NOT_IN_KEY},
        "forget": [[kind, [dataclasses.asdict(i) for i in items]] for kind, items in forget],
        "utility": [[name, [dataclasses.asdict(i) for i in items]] for name, items in utility],
    }
    return AnalysisKey(json.loads(canonical(material)))  # as stored: JSON values only


def contributions_to_json(result: PromptContributions) -> dict[str, Any]:
    """A :class:`PromptContributions` as plain JSON values."""
    return dataclasses.asdict(result)


def contributions_from_json(data: dict[str, Any]) -> PromptContributions:
    """Inverse of :func:`contributions_to_json` (tuples restored, floats exact)."""
    return PromptContributions(
        units=tuple(str(u) for u in data["units"]),
        spans=tuple((int(a), int(b)) for a, b in data["spans"]),
        prompt_ids=tuple(int(i) for i in data["prompt_ids"]),
        target_ids=tuple(int(i) for i in data["target_ids"]),
        lp=float(data["lp"]),
        contributions=tuple(float(c) for c in data["contributions"]),
    )


def answers_to_json(answers: Answers) -> dict[str, Any]:
    return {"texts": list(answers.texts), "correct": [bool(c) for c in answers.correct]}


def answers_from_json(data: dict[str, Any]) -> Answers:
    return Answers(
        texts=[str(t) for t in data["texts"]], correct=[bool(c) for c in data["correct"]]
    )


class CacheEntry:
    """One key's entry while its lock is held: the stored payload (or None) and a writer.

    Args:
        path: the entry's file; None disables caching (nothing read, nothing written).
        key: the key it is stored under (an :class:`AnalysisKey` carries its inputs).
    """

    def __init__(self, path: Path | None, key: str = "") -> None:
        self.path = path
        self.key = key
        self.payload: dict[str, Any] | None = None if path is None else _read(path, key)

    def save(self, payload: dict[str, Any]) -> None:
        """Write ``payload`` with its key and inputs atomically (temporary file, then rename).

        A cache folder that cannot be written is reported once and skipped: the run goes on
        with the analysis it computed.
        """
        if self.path is None:
            return
        entry = {"format": FORMAT, "key": str(self.key), "payload": payload}
        entry["material"] = getattr(self.key, "material", None)
        tmp = None
        try:
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=self.path.name, suffix=".tmp")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(entry, handle)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)  # mkstemp makes it private; the cache is shared by jobs
            os.replace(tmp, self.path)
        except OSError as err:
            _unlink(tmp)
            log.warning(
                "cannot write the M0 analysis cache entry %s (%s); continuing without storing it "
                "(set paths.cache_dir to a writable folder, or eval.cache_original=false).",
                self.path,
                err,
            )
            return
        except BaseException:
            _unlink(tmp)
            raise
        self.payload = payload


def _unlink(path: str | None) -> None:
    if path is not None:
        Path(path).unlink(missing_ok=True)


def _read(path: Path, key: str) -> dict[str, Any] | None:
    """The stored payload, None when absent; a damaged or misplaced entry is reported and
    ignored (recomputed and overwritten)."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT or not isinstance(data.get("payload"), dict):
            raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
    except (OSError, ValueError, AttributeError) as err:
        log.warning(
            "M0 analysis cache entry %s is unreadable (%s); recomputing it and overwriting it.",
            path,
            err,
        )
        return None
    problem = _key_problem(data, key)
    if problem:
        log.warning(
            "M0 analysis cache entry %s was not computed for this key (%s); recomputing it and "
            "overwriting it.",
            path,
            problem,
        )
        return None
    return data["payload"]


def _key_problem(data: dict[str, Any], key: str) -> str | None:
    """Why an entry does not belong to ``key`` (None when it does).

    The entry must record ``key``; its recorded inputs must hash to it; and, when the key
    carries the run's inputs, they must be the recorded ones.
    """
    if data.get("key") != str(key):
        stored = data.get("material")
        wanted = getattr(key, "material", None)
        if isinstance(stored, dict) and isinstance(wanted, dict) and stored != wanted:
            return "its inputs differ: " + "; ".join(differences(stored, wanted))
        return f"it records key {str(data.get('key'))[:12]}..., not {str(key)[:12]}..."
    stored = data.get("material")
    if stored is not None and (not isinstance(stored, dict) or key_of(stored) != str(key)):
        return "its recorded inputs do not hash to its key (edited)"
    wanted = getattr(key, "material", None)
    if wanted is not None and stored != wanted:
        return "its inputs differ: " + "; ".join(differences(stored or {}, wanted))
    return None


def differences(stored: Any, wanted: Any, where: str = "", limit: int = 5) -> list[str]:
    """Up to ``limit`` lines ``"unpact.alpha: entry 0.22, this run 0.5"`` (leaf paths)."""
    if isinstance(stored, dict) and isinstance(wanted, dict):
        found: list[str] = []
        for name in sorted(set(stored) | set(wanted), key=str):
            path = f"{where}.{name}" if where else str(name)
            found += differences(stored.get(name), wanted.get(name), path, limit - len(found))
            if len(found) >= limit:
                break
        return found
    if stored == wanted:
        return []
    show = [json.dumps(v, default=str)[:60] for v in (stored, wanted)]
    return [f"{where or 'entry'}: entry {show[0]}, this run {show[1]}"]


NO_LOCKS = (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS)
"""What a filesystem that refuses file locks answers (a lock is then skipped, with a warning)."""


@contextmanager
def _key_lock(lock_path: Path) -> Iterator[None]:
    """Exclusive lock on ``lock_path`` (waits for a holder; released with the process).

    A filesystem that refuses locks (``ENOLCK`` on some network mounts) is warned about and
    the block runs unlocked; one without ``flock`` at all gets ``filelock``'s own fallback.
    """
    lock = FileLock(lock_path)
    try:
        lock.acquire()
    except OSError as err:
        if err.errno not in NO_LOCKS:
            raise  # e.g. a folder this user cannot write: the caller runs without the cache
        log.warning(
            "cannot lock %s (%s): racing jobs may both compute M0's analysis (the entry "
            "stays valid: the rename is atomic).",
            lock_path,
            err,
        )
        yield
        return
    try:
        yield
    finally:
        lock.release()


@contextmanager
def open_entry(cache_dir: Path | None, key: str) -> Iterator[CacheEntry]:
    """The entry for ``key``, locked for the ``with`` block; a no-op entry when disabled.

    Args:
        cache_dir: the cache folder (created when missing); None disables caching.
        key: from :func:`analysis_key`.
    """
    if cache_dir is None:
        yield CacheEntry(None)
        return
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        lock = _key_lock(cache_dir / f"{key}.lock")
        lock.__enter__()
    except OSError as err:  # read-only, another user's, full: run without the cache
        log.warning(
            "the M0 analysis cache %s cannot be used (%s); continuing without it (set "
            "paths.cache_dir to a writable folder, or eval.cache_original=false).",
            cache_dir,
            err,
        )
        yield CacheEntry(None)
        return
    try:
        yield CacheEntry(cache_dir / f"{key}.json", key)
    finally:
        lock.__exit__(None, None, None)


def load_or_compute(
    cache_dir: Path | None,
    key: str,
    compute: Callable[[], T],
    encode: Callable[[T], dict[str, Any]],
    decode: Callable[[dict[str, Any]], T],
) -> tuple[T, bool]:
    """M0's analysis for ``key``: read from the cache, or computed by ``compute`` and stored.

    Args:
        cache_dir: the cache folder; None computes without caching.
        key: from :func:`analysis_key`.
        compute: runs the analysis.
        encode: the analysis as JSON values.
        decode: the inverse of ``encode``; raises ``KeyError``/``TypeError``/``ValueError`` on
            a payload that does not fit the items (a damaged entry, recomputed with a warning).

    Returns:
        ``(analysis, reused)``: ``reused`` is True when it came from the cache.
    """
    with open_entry(cache_dir, key) as entry:
        if entry.payload is not None:
            try:
                analysis = decode(entry.payload)
            except (KeyError, TypeError, ValueError) as err:
                log.warning(
                    "M0 analysis cache entry %s does not fit this run's items (%r); "
                    "recomputing it and overwriting it.",
                    entry.path,
                    err,
                )
            else:
                log.info("M0 analysis reused from %s", entry.path)
                return analysis, True
        analysis = compute()
        entry.save(encode(analysis))
        return analysis, False


def forget_to_json(
    answers: Answers,
    contributions: Sequence[PromptContributions],
    keys: Sequence[list[int]],
    asks_correct: Sequence[Sequence[bool]],
    ask_answers: Sequence[Sequence[str]],
    likely: Sequence[bool],
) -> dict[str, Any]:
    """One forget group's M0 analysis as JSON values."""
    return {
        "answers": answers_to_json(answers),
        "contributions": [contributions_to_json(c) for c in contributions],
        "keytokens": [list(k) for k in keys],
        "asks_correct": [[bool(h) for h in hits] for hits in asks_correct],
        "ask_answers": [[str(a) for a in answers] for answers in ask_answers],
        "likely": [bool(x) for x in likely],
    }


def forget_from_json(data: dict[str, Any], n_items: int) -> tuple[Any, ...]:
    """Inverse of :func:`forget_to_json` (the same six values), checked against the items."""
    answers = answers_from_json(data["answers"])
    contributions = [contributions_from_json(c) for c in data["contributions"]]
    keys = [[int(k) for k in ks] for ks in data["keytokens"]]
    asks = [[bool(h) for h in hits] for hits in data["asks_correct"]]
    ask_answers = [[str(a) for a in got] for got in data["ask_answers"]]
    likely = [bool(x) for x in data["likely"]]
    _check_lengths(
        n_items, answers.texts, answers.correct, contributions, keys, asks, ask_answers, likely
    )
    return answers, contributions, keys, asks, ask_answers, likely


def utility_to_json(
    answers: Answers, known: Sequence[int], contributions: Sequence[PromptContributions]
) -> dict[str, Any]:
    """One utility group's M0 analysis as JSON values."""
    return {
        "answers": answers_to_json(answers),
        "known": list(known),
        "contributions": [contributions_to_json(c) for c in contributions],
    }


def utility_from_json(
    data: dict[str, Any], n_items: int
) -> tuple[Answers, list[int], list[PromptContributions]]:
    """Inverse of :func:`utility_to_json`, checked against the number of items."""
    answers = answers_from_json(data["answers"])
    known = [int(i) for i in data["known"]]
    contributions = [contributions_from_json(c) for c in data["contributions"]]
    _check_lengths(n_items, answers.texts, answers.correct)
    if known != [i for i, ok in enumerate(answers.correct) if ok] or len(contributions) != len(
        known
    ):
        raise ValueError("known indices or contributions disagree with the stored answers")
    return answers, known, contributions


def _check_lengths(n_items: int, *lists: Sequence[Any]) -> None:
    lengths = {len(x) for x in lists}
    if lengths != {n_items}:
        raise ValueError(f"entry holds {sorted(lengths)} results for {n_items} items")
