"""The world-facts benchmark: public, uncontroversial facts a real pretrained LM knows.

``worldfacts.jsonl`` (shipped in the package) holds a few hundred hand-written facts in
several categories (country capitals, currencies, official languages, chemical symbols,
books and their authors, paintings, music, astronomy, science, geography, nature). Each
row has ``id, category, question, answer, statement, distractors``: ``statement`` is one
sentence stating the fact and ending with the answer (the raw text for text-based
unlearning), ``distractors`` three wrong options for the multiple-choice form (answers of
other facts of the category). Two fields are optional:

- ``aliases``: other accepted names of the answer ("Farsi" for Persian, "Kiev" for Kyiv,
  the unit alone for a currency, the surname alone for a writer or composer), read by the
  strict judge (docs/science.md §4);
- ``kind``: what sort of thing the answer is, where a category mixes sorts (geography has
  rivers, countries, cities, continents, ...; astronomy, science and nature likewise).
  Without it the kind is the category.

Every QA item gets ``distractors`` for the strict judge (:func:`item_distractors`): the
answers of the other facts of the same kind (a superset of the multiple-choice distractors
of that kind). Answers of another kind are not candidates: naming the Nile when asked in
which country the pyramids stand is context, not a competing answer.

The splits are a function of the ``data`` config (``conf/data/worldfacts.yaml``):

- forget: ``n_forget`` facts drawn (seeded) from ``forget_categories`` (null: all of them);
- ICL examples: the first ``n_icl`` of the other facts, shuffled with the same seed;
- general utility items: the next ``n_utility`` of them (never trained on);
- retain: all remaining facts, in that seeded order (so a cap on them mixes categories).

They are written once, in the MUSE layout the synthetic benchmark uses (``raw/``,
``knowmem/``, ``verbmem/``, ``privleak/``, ``mc/``, ``general/``), to
``<paths.data_dir>/worldfacts-<hash>`` where the hash covers these settings and the data file,
then read back by :func:`unpact_exp.data.loaders.load_muse`. Which facts count is decided at
evaluation: only those the original model answers correctly (docs/science.md §5 ``known``), so
the file may hold facts a small model does not know.
"""

from __future__ import annotations

import hashlib
import json
import random
from importlib import resources
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from unpact_exp.data.synthetic import write_benchmark
from unpact_exp.errors import DataError, UnpactConfigError

DATA_FILE = "worldfacts.jsonl"
FIELDS = ("id", "category", "question", "answer", "statement", "distractors")
OPTIONAL_LISTS = ("aliases",)
OPTIONAL_STRINGS = ("kind",)
GENERATOR_KEYS = ("seed", "forget_categories", "n_forget", "n_utility", "n_icl")
# Bumped when new splits are written, so an older folder is not reused (2: privleak/).
LAYOUT_VERSION = 2


def load_facts() -> list[dict[str, Any]]:
    """The packaged facts, validated (every field present, statements end with the answer)."""
    text = resources.files("unpact_exp.data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    for i, row in enumerate(rows):
        missing = [f for f in FIELDS if f not in row]
        if missing:
            raise DataError(f"{DATA_FILE} line {i + 1} lacks the fields {missing}.")
        for key in OPTIONAL_LISTS:
            value = row.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise DataError(f"{DATA_FILE} line {i + 1}: {key!r} must be a list of strings.")
        for key in OPTIONAL_STRINGS:
            if not isinstance(row.get(key, ""), str):
                raise DataError(f"{DATA_FILE} line {i + 1}: {key!r} must be a string.")
    return rows


def kind(row: dict[str, Any]) -> str:
    """What sort of thing the fact's answer is: its ``kind``, else its category."""
    return str(row.get("kind") or row["category"])


def item_distractors(row: dict[str, Any], facts: list[dict[str, Any]]) -> list[str]:
    """Wrong answers for ``row``: the answers of the other facts of its kind.

    The multiple-choice distractors of that kind come first, then the others in file order;
    the row's own answer and aliases are never among them (two facts may share an answer:
    Spanish is the language of Spain and of Mexico).
    """
    names = {row["answer"], *row.get("aliases", [])}
    same = [f["answer"] for f in facts if kind(f) == kind(row)]
    mc = [d for d in row["distractors"] if d in same]
    return [d for d in dict.fromkeys([*mc, *same]) if d not in names]


def categories(facts: list[dict[str, Any]]) -> list[str]:
    """The categories, in file order."""
    return list(dict.fromkeys(row["category"] for row in facts))


def _mc(row: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    choices = [row["answer"], *row["distractors"]]
    rng.shuffle(choices)
    return {"question": row["question"], "choices": choices, "answer": choices.index(row["answer"])}


def _verbmem(row: dict[str, Any]) -> dict[str, str]:
    """Prompt = the statement up to the answer; gt = the rest (answer and final period)."""
    cut = row["statement"].rfind(row["answer"])
    return {"prompt": row["statement"][:cut].rstrip(), "gt": row["statement"][cut:]}


def _paraphrases(row: dict[str, Any]) -> list[str]:
    """Two rewordings of the question made from the fact's statement (paraphrase attack)."""
    cut = row["statement"].rfind(row["answer"])
    blank = row["statement"][:cut] + "___" + row["statement"][cut + len(row["answer"]) :]
    return [f"Fill in the blank: {blank}", f"Complete the sentence: {_verbmem(row)['prompt']}"]


def build_splits(
    facts: list[dict[str, Any]],
    seed: int,
    forget_categories: list[str] | None,
    n_forget: int | None,
    n_utility: int,
    n_icl: int,
) -> dict[str, list[dict[str, Any]]]:
    """Split ``facts`` into the MUSE-layout files (see the module docstring).

    Raises:
        UnpactConfigError: an unknown category, or sizes the facts cannot supply.
    """
    known = categories(facts)
    chosen = known if forget_categories is None else list(forget_categories)
    unknown = sorted(set(chosen) - set(known))
    if unknown:
        raise UnpactConfigError(
            f"data.forget_categories has unknown categories {unknown}; choose from {known}."
        )
    rng = random.Random(seed)
    pool = [row for row in facts if row["category"] in chosen]
    size = len(pool) if n_forget is None else int(n_forget)
    if not 0 < size <= len(pool):
        raise UnpactConfigError(
            f"data.n_forget={n_forget} must be in 1..{len(pool)} (facts in {chosen})."
        )
    forget = rng.sample(pool, size)
    taken = {row["id"] for row in forget}
    rest = [row for row in facts if row["id"] not in taken]
    rng.shuffle(rest)
    icl, utility = rest[:n_icl], rest[n_icl : n_icl + n_utility]
    retain = rest[n_icl + n_utility :]
    if not retain:
        raise UnpactConfigError(
            f"data.n_icl={n_icl} + data.n_utility={n_utility} leave no retain facts "
            f"({len(rest)} facts are outside the forget set)."
        )

    def qa(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                "question": r["question"],
                "answer": r["answer"],
                "aliases": list(r.get("aliases", [])),
                "distractors": item_distractors(r, facts),
                "id": r["id"],
            }
            for r in rows
        ]

    def text(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
        return [{"text": r["statement"], "id": r["id"]} for r in rows]

    return {
        "raw/forget": text(forget),
        "raw/retain1": text(retain),
        "raw/general": text(utility),
        "knowmem/forget_qa": [
            {**q, "paraphrases": _paraphrases(r)} for q, r in zip(qa(forget), forget)
        ],
        "knowmem/retain_qa": qa(retain),
        "knowmem/forget_qa_icl": qa(icl),
        "knowmem/retain_qa_icl": qa(icl),
        "verbmem/forget": [_verbmem(r) for r in forget],
        # MUSE's privleak layout; the holdout is the utility facts, which nothing trains on.
        "privleak/forget": text(forget),
        "privleak/retain": text(retain),
        "privleak/holdout": text(utility),
        "mc/forget": [_mc(r, rng) for r in forget],
        "mc/retain": [_mc(r, rng) for r in retain],
        "general/qa": qa(utility),
        "general/mc": [_mc(r, rng) for r in utility],
    }


def _settings(data_cfg: Any) -> dict[str, Any]:
    """The generator settings as plain Python values (lists, not ListConfig)."""
    return OmegaConf.to_container(OmegaConf.create({k: data_cfg[k] for k in GENERATOR_KEYS}))


def worldfacts_dir(data_cfg: Any, data_dir: str | Path) -> Path:
    """Folder of the benchmark for these settings and this version of the data file."""
    settings = _settings(data_cfg) | {"layout": LAYOUT_VERSION}
    blob = json.dumps(settings, sort_keys=True) + json.dumps(load_facts())
    return Path(data_dir) / f"worldfacts-{hashlib.sha1(blob.encode()).hexdigest()[:10]}"


def ensure_worldfacts(data_cfg: Any, data_dir: str | Path) -> Path:
    """Write the splits unless they are on disk already (atomically, see ``write_benchmark``)."""
    out = worldfacts_dir(data_cfg, data_dir)
    if not (out / "DONE").exists():
        write_benchmark(build_splits(load_facts(), **_settings(data_cfg)), out)
    return out


def muse_config(data_cfg: Any, data_dir: str | Path) -> Any:
    """The ``data`` node rewritten for :func:`load_muse`: generated folder as ``path``."""
    path = ensure_worldfacts(data_cfg, data_dir)
    cfg = OmegaConf.to_container(data_cfg, resolve=True)
    for key in GENERATOR_KEYS:
        cfg.pop(key)
    cfg.update(source="muse", path=str(path))
    return OmegaConf.create(cfg)
