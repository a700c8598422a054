"""Load TOFU (``locuslab/TOFU``) into a :class:`Benchmark`: QA pairs and the truth-ratio sets.

TOFU (Maini et al., arXiv 2401.06121) is 4,000 question/answer pairs about 200 fictitious
authors. The hub repo keeps one JSON-lines file per config at its root, each config's only split
being ``train`` (so ``forget01/train`` reads ``forget01.json``; see
:func:`unpact_exp.data.hub_sources.candidate_patterns`):

- ``forget01/05/10`` (``question``, ``answer``): the forget sets, 1/5/10% of the authors;
- ``retain99/95/90``: the complementary retain sets; ``holdout01/05/10``: authors never trained
  on (the membership-inference non-members);
- ``forget01/05/10_perturbed`` and ``retain_perturbed`` (a 400-question retain sample): also
  ``paraphrased_answer`` and ``perturbed_answer`` (a list of wrong answers in the same style);
- ``real_authors_perturbed`` and ``world_facts_perturbed``: real-world questions with
  ``perturbed_answer`` but no paraphrase.

Roles in the :class:`Benchmark`: ``forget_qa`` and ``retain_qa`` (trained on, ``train_on: qa``),
``holdout_qa``, ``utility_qa`` (real authors and world facts, for the destructive rate) and
``perturbed[role]`` for ``role`` in :data:`PERTURBED_ROLES`. The truth ratio compares the
perturbed answers with the paraphrased answer on forget and retain, and with the gold answer on
real authors and world facts, as TOFU's evaluation config does (``base_answer_key``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from unpact_exp.config import checks
from unpact_exp.config.binder import coerce
from unpact_exp.data.data_keys import CONFIG_NODE, check_max_retain, parse_ref, required_key
from unpact_exp.data.hub_sources import load_split_with_origin, require_fields
from unpact_exp.data.schema import Benchmark, PerturbedQA, QAItem
from unpact_exp.errors import DataError, UnpactConfigError

if TYPE_CHECKING:
    import datasets

QA_FIELDS = ("question", "answer")
PERTURBED_FIELDS = ("question", "answer", "paraphrased_answer", "perturbed_answer")
OPTION_FIELDS = ("question", "answer", "perturbed_answer")
# Truth-ratio set key in conf/data/tofu.yaml -> (role in Benchmark.perturbed, fields, base answer).
PERTURBED_ROLES = {
    "forget_perturbed": ("forget", PERTURBED_FIELDS, "paraphrased_answer"),
    "retain_perturbed": ("retain", PERTURBED_FIELDS, "paraphrased_answer"),
    "real_authors": ("real_authors", OPTION_FIELDS, "answer"),
    "world_facts": ("world_facts", OPTION_FIELDS, "answer"),
}
TOFU_KEYS = (
    "name",
    "source",
    "hub_id",
    "path",
    "max_length",
    "train_on",
    "max_retain_examples",
    "forget_qa",
    "retain_qa",
    "holdout_qa",
    *PERTURBED_ROLES,
)


def check_tofu_config(cfg: Mapping[str, Any]) -> None:
    """Every key present, ``train_on: qa``, valid split references; nothing loaded yet."""
    for key in TOFU_KEYS:
        required_key(cfg, key)
    if cfg["train_on"] != "qa":
        raise UnpactConfigError(
            f"{CONFIG_NODE}.train_on={cfg['train_on']!r} is not valid for data=tofu: TOFU is "
            "question/answer pairs only; use data.train_on=qa."
        )
    key = f"{CONFIG_NODE}.max_length"
    checks.positive(key, coerce(key, cfg["max_length"], int))
    check_max_retain(cfg["max_retain_examples"])
    for key in ("forget_qa", "retain_qa"):
        if cfg[key] is None:
            raise UnpactConfigError(f"{CONFIG_NODE}.{key} must name a split (e.g. forget01/train).")
    for key in ("forget_qa", "retain_qa", "holdout_qa", *PERTURBED_ROLES):
        if cfg[key] is not None:
            parse_ref(cfg[key], key)


def _read(
    cfg: Mapping[str, Any], key: str, fields: tuple[str, ...]
) -> tuple[datasets.Dataset, str] | None:
    """The split ``cfg[key]`` names (None when null), checked for rows and ``fields``."""
    ref = cfg[key]
    if ref is None:
        return None
    subset, split = parse_ref(ref, key)
    ds, origin = load_split_with_origin(
        cfg["hub_id"], cfg["path"], subset, split, f"{CONFIG_NODE}.path"
    )
    where = f"{origin} ({CONFIG_NODE}.{key}={ref})"
    if len(ds) == 0:
        raise DataError(
            f"The {key} split {ref!r} of {cfg['name']!r} is empty: {where} has no rows."
        )
    require_fields(ds, fields, where)
    return ds, where


def _qa(loaded: tuple[datasets.Dataset, str] | None) -> list[QAItem]:
    if loaded is None:
        return []
    ds = loaded[0]
    return [QAItem(str(q), str(a)) for q, a in zip(ds["question"], ds["answer"])]


def _perturbed(loaded: tuple[datasets.Dataset, str] | None, base: str) -> list[PerturbedQA]:
    if loaded is None:
        return []
    ds, where = loaded
    items = []
    for row, (question, answer, base_answer, wrong) in enumerate(
        zip(ds["question"], ds["answer"], ds[base], ds["perturbed_answer"])
    ):
        if isinstance(wrong, str) or not all(isinstance(w, str) and w.strip() for w in wrong):
            raise DataError(
                f"Row {row} of {where}: 'perturbed_answer' must be a list of non-empty strings, "
                f"got {wrong!r}."
            )
        items.append(PerturbedQA(str(question), str(answer), str(base_answer), tuple(wrong)))
    return items


def load_tofu(cfg: Mapping[str, Any]) -> Benchmark:
    """Load TOFU from ``cfg.hub_id`` / ``cfg.path`` (a local snapshot in the hub layout).

    Raises:
        UnpactConfigError: a key is missing or invalid.
        DataError: a split is missing, empty, or lacks a field.
    """
    check_tofu_config(cfg)
    perturbed = {}
    for key, (role, fields, base) in PERTURBED_ROLES.items():
        items = _perturbed(_read(cfg, key, fields), base)
        if items:
            perturbed[role] = items
    utility = [
        QAItem(item.question, item.answer)
        for role in ("real_authors", "world_facts")
        for item in perturbed.get(role, [])
    ]
    return Benchmark(
        name=str(cfg["name"]),
        forget_qa=_qa(_read(cfg, "forget_qa", QA_FIELDS)),
        retain_qa=_qa(_read(cfg, "retain_qa", QA_FIELDS)),
        holdout_qa=_qa(_read(cfg, "holdout_qa", QA_FIELDS)),
        utility_qa=utility,
        perturbed=perturbed,
    )
