"""Build a :class:`Benchmark` from a ``data`` config node (``conf/data/*.yaml``).

Two sources share one vocabulary. A *split reference* is a string ``"<subset>/<split>"``
(``"knowmem/forget_qa"``), or ``"<split>"`` for single-config datasets (``"train"``), or null
where a part is optional. Every key below is required in the YAML (no Python defaults).

``source: muse`` (MUSE-News, MUSE-Books) and ``source: synthetic`` (the generated benchmark,
written in the MUSE layout plus ``mc/`` and ``general/``; the framework sets ``path``):
    ``name, source, hub_id, path, max_length, train_on, max_retain_examples`` and the references
    ``forget, retain`` (``text``; required), ``forget_qa, retain_qa, icl, retain_icl,
    utility_qa`` (``question, answer``), ``verbmem`` (``prompt, gt``), ``mc_forget,
    mc_retain, utility_mc`` (``question, choices, answer``), ``privleak_forget,
    privleak_holdout`` (``text``; MUSE's ``privleak`` config), all read from the one dataset
    ``hub_id`` / ``path``.

``source: wmdp`` (WMDP-Bio, WMDP-Cyber), where each part lives in its own hub repo:
    ``name, source, max_length, train_on, max_retain_examples``; ``hub_id, path, eval``
    (MC questions -> ``mc_forget``); ``forget_hub_id, forget_path, forget`` and
    ``retain_hub_id, retain_path, retain`` (``text`` corpora); ``retain_source`` with
    ``wikitext_hub_id, wikitext_path, wikitext`` (the RMU paper's retain set); ``utility_hub_id,
    utility_path, utility, utility_size, utility_seed`` (a seeded sample of MMLU -> ``utility_mc``).

``max_retain_examples`` (an int, or null for all) keeps the first N documents of the retain
corpus, read no further (WMDP-Bio's has about 61k, 1.9 GB); the unlearn stage caps retain QA
pairs for training the same way (evaluation keeps every retain question).

A ``*path`` key, when set, is a local copy (see :mod:`unpact_exp.data.hub_sources`) and wins
over the matching hub id.
"""

from __future__ import annotations

import random
import warnings
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from unpact_exp.config import checks
from unpact_exp.config.binder import coerce
from unpact_exp.data.data_keys import CONFIG_NODE, check_max_retain, parse_ref, required_key
from unpact_exp.data.hub_sources import load_split, load_split_with_origin, require_fields
from unpact_exp.data.schema import Benchmark, MCItem, QAItem
from unpact_exp.errors import DataError, UnpactConfigError

if TYPE_CHECKING:
    import datasets

__all__ = ["load_benchmark", "load_muse", "load_split", "load_wmdp", "require_fields"]

TRAIN_ON = ("text", "qa")
TEXT_FIELDS = ("text",)
QA_FIELDS = ("question", "answer")
VERBMEM_FIELDS = ("prompt", "gt")
MC_FIELDS = ("question", "choices", "answer")
# Every split-reference key, with the fields its rows must carry.
REF_FIELDS = {
    "forget": TEXT_FIELDS,
    "retain": TEXT_FIELDS,
    "forget_qa": QA_FIELDS,
    "retain_qa": QA_FIELDS,
    "icl": QA_FIELDS,
    "retain_icl": QA_FIELDS,
    "verbmem": VERBMEM_FIELDS,
    "mc_forget": MC_FIELDS,
    "mc_retain": MC_FIELDS,
    "utility_qa": QA_FIELDS,
    "utility_mc": MC_FIELDS,
    "eval": MC_FIELDS,
    "utility": MC_FIELDS,
    "privleak_forget": TEXT_FIELDS,
    "privleak_holdout": TEXT_FIELDS,
    "wikitext": TEXT_FIELDS,
}
# Where WMDP's retain corpus comes from (``data.retain_source``): the WMDP retain corpora, or
# wikitext as the RMU paper's code trained with.
RETAIN_SOURCES = ("wmdp_corpus", "wikitext")
_COMMON_KEYS = ("name", "source", "max_length", "train_on", "max_retain_examples")
MUSE_KEYS = (
    *_COMMON_KEYS,
    "hub_id",
    "path",
    "forget",
    "retain",
    "forget_qa",
    "retain_qa",
    "icl",
    "retain_icl",
    "verbmem",
    "mc_forget",
    "mc_retain",
    "utility_qa",
    "utility_mc",
    "privleak_forget",
    "privleak_holdout",
)
WMDP_KEYS = (
    *_COMMON_KEYS,
    "hub_id",
    "path",
    "eval",
    "eval_subject",
    "forget_hub_id",
    "forget_path",
    "forget",
    "retain_hub_id",
    "retain_path",
    "retain",
    "retain_source",
    "wikitext_hub_id",
    "wikitext_path",
    "wikitext",
    "utility_hub_id",
    "utility_path",
    "utility",
    "utility_size",
    "utility_seed",
)


def _read_ref(
    cfg: Mapping[str, Any],
    key: str,
    hub_id: str | None,
    path: str | None,
    path_key: str,
    limit: int | None = None,
    drop_blank: bool = False,
) -> tuple[datasets.Dataset, str] | None:
    """Load the split named by ``cfg[key]`` (None if null); checks it has rows and fields.

    ``limit`` keeps the first rows only, before any column is read into Python (the rest of
    a large corpus stays in the memory-mapped Arrow file, unread). ``drop_blank`` first drops
    rows whose ``text`` is empty or whitespace (wikitext's blank lines between paragraphs).
    """
    ref = cfg[key]
    if ref is None:
        return None
    subset, split = parse_ref(ref, key)
    override = f"{CONFIG_NODE}.{path_key}"
    ds, origin = load_split_with_origin(hub_id, path, subset, split, override)
    where = f"{origin} ({CONFIG_NODE}.{key}={ref})"
    if len(ds) == 0:
        raise DataError(
            f"The {key} split {ref!r} of {cfg['name']!r} is empty: {where} has no rows."
        )
    if drop_blank and "text" in ds.column_names:
        ds = ds.filter(lambda text: bool(str(text or "").strip()), input_columns="text")
    if limit is not None and limit < len(ds):
        ds = ds.select(range(limit))
    require_fields(ds, REF_FIELDS[key], where)
    return ds, where


def _texts(loaded: tuple[datasets.Dataset, str] | None) -> list[str]:
    return [] if loaded is None else [str(t) for t in loaded[0]["text"]]


def _qa(
    loaded: tuple[datasets.Dataset, str] | None, q: str = "question", a: str = "answer"
) -> list[QAItem]:
    if loaded is None:
        return []
    ds = loaded[0]
    # Optional list columns: other wordings of the question (the paraphrase attack), other
    # names of the gold and wrong candidates (the strict judge).
    alt, names, wrong = (_strings(ds, c) for c in ("paraphrases", "aliases", "distractors"))
    return [
        QAItem(question=str(x), answer=str(y), paraphrases=z, aliases=n, distractors=w)
        for x, y, z, n, w in zip(ds[q], ds[a], alt, names, wrong)
    ]


def unique_questions(loaded: tuple[datasets.Dataset, str] | None) -> list[QAItem]:
    """The QA items of an evaluated split, each question once.

    A question asked twice would be counted twice in every rate (known, forgotten,
    recovered). An exact repeat (same question, same answer) is dropped with a warning naming
    its rows; the same question with another answer has no single gold to judge against and
    is refused.

    Raises:
        DataError: naming the file, both rows (0-based, in file order) and both answers.
    """
    items = _qa(loaded)
    if loaded is None:
        return items
    where = loaded[1]
    first: dict[str, int] = {}
    kept, repeats = [], []
    for row, item in enumerate(items):
        text = " ".join(item.question.split())
        if text not in first:
            first[text] = row
            kept.append(item)
            continue
        earlier = items[first[text]]
        if earlier.answer.strip() != item.answer.strip():
            raise DataError(
                f"Rows {first[text]} and {row} of {where} ask the same question "
                f"{item.question!r} with different answers ({earlier.answer!r}, "
                f"{item.answer!r}): there is no single gold answer to judge it by. Remove one "
                "row, or reword one question."
            )
        repeats.append(f"{row} (= row {first[text]})")
    if repeats:
        warnings.warn(
            f"{where}: {len(repeats)} rows repeat an earlier question and answer and are "
            f"dropped, so that no question counts twice: rows {', '.join(repeats[:10])}"
            f"{' ...' if len(repeats) > 10 else ''}.",
            UserWarning,
            stacklevel=2,
        )
    return kept


def _strings(ds: datasets.Dataset, column: str) -> list[tuple[str, ...]]:
    """An optional column of string lists, one tuple per row (empty when the data lacks it)."""
    if column not in ds.column_names:
        return [()] * len(ds)
    return [tuple(str(v) for v in (row or ())) for row in ds[column]]


def _mc(
    loaded: tuple[datasets.Dataset, str] | None, rows: list[int] | None = None, subject: str = ""
) -> list[MCItem]:
    """MC items; ``answer`` must index ``choices``. ``rows`` selects a subset, in order.

    The subject of lm-eval's description line is the row's ``subject`` column when the
    data has one (MMLU's ``high_school_physics`` read as "high school physics", as lm-eval's
    MMLU tasks), else ``subject``.
    """
    if loaded is None:
        return []
    ds, where = loaded
    questions, choices, answers = ds["question"], ds["choices"], ds["answer"]
    column = ds["subject"] if "subject" in ds.column_names else None
    items = []
    for i in range(len(ds)) if rows is None else rows:
        options, answer = tuple(str(c) for c in choices[i]), answers[i]
        if type(answer) is not int:  # data, not config: a bool or float is a broken file
            raise DataError(f"Row {i} of {where}: 'answer' must be an int index, got {answer!r}.")
        if not 0 <= answer < len(options):
            raise DataError(f"Row {i} of {where}: answer {answer} not in 0..{len(options) - 1}.")
        topic = str(column[i]).replace("_", " ") if column is not None else subject
        items.append(
            MCItem(question=str(questions[i]), choices=options, answer=answer, subject=topic)
        )
    return items


def _check_keys(cfg: Mapping[str, Any], keys: tuple[str, ...], train_ons: tuple[str, ...]) -> None:
    """Validate every key before loading anything, so a typo fails in milliseconds."""
    for key in keys:
        required_key(cfg, key)
    max_length = coerce(f"{CONFIG_NODE}.max_length", cfg["max_length"], int)
    checks.at_least(f"{CONFIG_NODE}.max_length", max_length, 1)
    if cfg["train_on"] not in train_ons:
        raise UnpactConfigError(
            f"{CONFIG_NODE}.train_on={cfg['train_on']!r} is not valid for source "
            f"{cfg['source']!r}; choose one of {list(train_ons)}."
        )
    for key in ("forget", "retain"):
        if cfg[key] is None:
            raise UnpactConfigError(f"{CONFIG_NODE}.{key} must name a split (it is the {key} set).")
    check_max_retain(cfg["max_retain_examples"])
    for key in keys:
        if key in REF_FIELDS and cfg[key] is not None:
            parse_ref(cfg[key], key)


def without_repeats(items: list[QAItem], seen: list[QAItem]) -> list[QAItem]:
    """``items`` minus those already in ``seen`` (and minus repeats within ``items``).

    MUSE has one retain question set: ``utility_qa`` pointing at the same split as
    ``retain_qa`` would score, and count in the destructive rate, every question twice.
    """
    known = set(seen)
    kept = []
    for item in items:
        if item not in known:
            known.add(item)
            kept.append(item)
    return kept


def load_muse(cfg: Mapping[str, Any]) -> Benchmark:
    """Load a MUSE-layout dataset (news, books, synthetic) from ``cfg.hub_id`` / ``cfg.path``.

    As in MUSE's own evaluation (``eval.py`` of github.com/swj0419/muse_bench: knowmem_f uses
    ``knowmem/forget_qa_icl``, knowmem_r ``knowmem/retain_qa_icl``), forget questions get the
    ``icl`` examples and retain / utility questions the ``retain_icl`` ones. Utility items that
    are also retain items are kept once (see :func:`without_repeats`).

    Raises:
        UnpactConfigError: a key is missing or invalid.
        DataError: a split is missing, empty, or lacks a field.
    """
    _check_keys(cfg, MUSE_KEYS, TRAIN_ON)
    if cfg["train_on"] == "qa":
        for key in ("forget_qa", "retain_qa"):
            if cfg[key] is None:
                raise UnpactConfigError(f"{CONFIG_NODE}.train_on=qa needs {CONFIG_NODE}.{key}.")

    def read(key: str, limit: int | None = None) -> tuple[datasets.Dataset, str] | None:
        return _read_ref(cfg, key, cfg["hub_id"], cfg["path"], "path", limit)

    retain_qa = unique_questions(read("retain_qa"))
    return Benchmark(
        name=str(cfg["name"]),
        forget_text=_texts(read("forget")),
        retain_text=_texts(read("retain", cfg["max_retain_examples"])),
        forget_qa=unique_questions(read("forget_qa")),
        retain_qa=retain_qa,
        icl=_qa(read("icl")),
        retain_icl=_qa(read("retain_icl")),
        verbmem_forget=_qa(read("verbmem"), "prompt", "gt"),
        mc_forget=_mc(read("mc_forget")),
        mc_retain=_mc(read("mc_retain")),
        utility_qa=without_repeats(_qa(read("utility_qa")), retain_qa),
        utility_mc=_mc(read("utility_mc")),
        privleak_forget=_texts(read("privleak_forget")),
        privleak_holdout=_texts(read("privleak_holdout")),
    )


def sample_rows(n: int, size: Any, seed: Any) -> list[int]:
    """Row indices of a seeded sample of ``size`` rows out of ``n`` (all when size >= n).

    Sorted, so the items keep their order in the file; the same seed gives the same rows.
    """
    size = coerce(f"{CONFIG_NODE}.utility_size", size, int | None)
    if size is not None:
        checks.at_least(f"{CONFIG_NODE}.utility_size", size, 1)
    seed = coerce(f"{CONFIG_NODE}.utility_seed", seed, int)
    if size is None or size >= n:
        return list(range(n))
    return sorted(random.Random(seed).sample(range(n), size))


def load_wmdp(cfg: Mapping[str, Any]) -> Benchmark:
    """Load WMDP: MC questions, forget/retain corpora and a seeded MMLU utility sample.

    The retain corpus is WMDP's own (``retain_source: wmdp_corpus``: ``retain_hub_id``,
    ``retain_path``, ``retain``) or wikitext (``retain_source: wikitext``: ``wikitext_hub_id``,
    ``wikitext_path``, ``wikitext``), whose blank lines are dropped, as the RMU code keeps
    only non-empty lines (``len(text) > min_len`` with ``min_len`` 0 in ``rmu/utils.py``).

    Raises:
        UnpactConfigError: a key is missing or invalid (``train_on`` must be ``text``: WMDP
            has no question/answer pairs to train on).
        DataError: a split is missing, empty, or lacks a field.
    """
    _check_keys(cfg, WMDP_KEYS, ("text",))
    for key in ("eval", "utility"):
        if cfg[key] is None:
            raise UnpactConfigError(f"{CONFIG_NODE}.{key} must name a split.")
    size, seed = cfg["utility_size"], cfg["utility_seed"]
    sample_rows(1, size, seed)  # validates both before any loading

    retain_source = cfg["retain_source"]
    if retain_source not in RETAIN_SOURCES:
        raise UnpactConfigError(
            f"{CONFIG_NODE}.retain_source={retain_source!r} is not valid; choose one of "
            f"{list(RETAIN_SOURCES)} (wikitext: the retain set of the RMU paper's code)."
        )

    def read(
        key: str, prefix: str, limit: int | None = None, drop_blank: bool = False
    ) -> tuple[datasets.Dataset, str]:
        hub_id, path = cfg[f"{prefix}hub_id"], cfg[f"{prefix}path"]
        return _read_ref(cfg, key, hub_id, path, f"{prefix}path", limit, drop_blank)

    mc_forget = _mc(read("eval", ""), subject=str(cfg["eval_subject"] or ""))
    forget_text = _texts(read("forget", "forget_"))
    cap = cfg["max_retain_examples"]
    if retain_source == "wikitext":
        retain_text = _texts(read("wikitext", "wikitext_", cap, drop_blank=True))
    else:
        retain_text = _texts(read("retain", "retain_", cap))
    utility = read("utility", "utility_")
    return Benchmark(
        name=str(cfg["name"]),
        forget_text=forget_text,
        retain_text=retain_text,
        mc_forget=mc_forget,
        utility_mc=_mc(utility, sample_rows(len(utility[0]), size, seed)),
    )


def _load_tofu(cfg: Mapping[str, Any]) -> Benchmark:
    from unpact_exp.data.tofu import load_tofu  # it imports this module's helpers

    return load_tofu(cfg)


LOADERS: dict[str, Callable[[Mapping[str, Any]], Benchmark]] = {
    "muse": load_muse,
    # Generated in the MUSE layout by unpact_exp.data.synthetic, which sets ``path`` first.
    "synthetic": load_muse,
    "wmdp": load_wmdp,
    "tofu": _load_tofu,
}


def load_benchmark(cfg: Mapping[str, Any]) -> Benchmark:
    """Load the dataset described by a ``data`` config node, dispatching on ``cfg.source``.

    Raises:
        UnpactConfigError: unknown ``source`` (the message lists the valid ones) or bad keys.
        DataError: missing, empty or malformed data; hub ids fail fast offline.
    """
    source = required_key(cfg, "source")
    if source not in LOADERS:
        raise UnpactConfigError(
            f"{CONFIG_NODE}.source={source!r} is not a dataset source; choose one of "
            f"{sorted(LOADERS)}."
        )
    return LOADERS[source](cfg)
