"""Offline fixtures for the dataset loaders: tiny copies of the hub repos, in their exact layout.

The writers live in :mod:`tests.fixtures.hub_snapshots` (other test folders use them too).
The layouts of MUSE, WMDP and MMLU, and what each writer returns, are described there. The
TOFU snapshot is written here (only the data loaders' tests use it), in the hub's layout:
- ``locuslab/TOFU``: one JSON-lines file per config at the root (``README.md`` maps config
  ``forget01`` to ``data_files: forget01.json``, split ``train``): ``forget01/05/10``,
  ``retain90/95/99``, ``holdout01/05/10``, ``full``, ``real_authors``, ``world_facts``
  (question, answer); ``forget01/05/10_perturbed`` and ``retain_perturbed`` (question, answer,
  paraphrased_answer, paraphrased_question, perturbed_answer: list of strings);
  ``real_authors_perturbed`` and ``world_facts_perturbed`` (question, option1..option4, answer,
  perturbed_answer). A subset of those files, with invented rows, is written.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures.hub_snapshots import (
    BOOKS,
    NEWS,
    Snapshot,
    write_bio_forget,
    write_jsonl,
    write_mmlu,
    write_muse,
    write_wmdp,
    write_wmdp_corpora,
)

# Never reach the hub from these tests, whatever imported `datasets` first.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_DATASETS_OFFLINE"] = "1"


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Offline flags in the env and in the libraries' module copies; a private datasets cache."""
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    cache = tmp_path_factory.getbasetemp() / "hf_datasets_cache"
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", str(cache))


@pytest.fixture
def news_snapshot(tmp_path: Path) -> Snapshot:
    """``muse-bench/MUSE-News`` in the hub layout."""
    return write_muse(tmp_path / "MUSE-News", NEWS)


@pytest.fixture
def books_snapshot(tmp_path: Path) -> Snapshot:
    """``muse-bench/MUSE-Books`` in the hub layout."""
    return write_muse(tmp_path / "MUSE-Books", BOOKS)


@pytest.fixture
def wmdp_snapshot(tmp_path: Path) -> Snapshot:
    """``cais/wmdp``: one config per domain, a single ``test`` split each."""
    return write_wmdp(tmp_path / "wmdp")


@pytest.fixture
def corpora_snapshot(tmp_path: Path) -> Snapshot:
    """``cais/wmdp-corpora``: bio retain (sharded), cyber forget and cyber retain corpora."""
    return write_wmdp_corpora(tmp_path / "wmdp-corpora")


@pytest.fixture
def bio_forget_snapshot(tmp_path: Path) -> Snapshot:
    """``cais/wmdp-bio-forget-corpus`` (gated): default config, ``data/train-*`` shards."""
    return write_bio_forget(tmp_path / "wmdp-bio-forget-corpus")


@pytest.fixture
def mmlu_snapshot(tmp_path: Path) -> Snapshot:
    """``cais/mmlu`` config ``all``: test (30 rows), validation and dev; answer is a ClassLabel."""
    return write_mmlu(tmp_path / "mmlu")


@pytest.fixture
def wmdp_paths(
    wmdp_snapshot: Snapshot,
    corpora_snapshot: Snapshot,
    bio_forget_snapshot: Snapshot,
    mmlu_snapshot: Snapshot,
) -> Iterator[dict[str, Snapshot]]:
    """All four WMDP-side snapshots, keyed by the config key that points at each."""
    yield {
        "path": wmdp_snapshot,
        "forget_path": bio_forget_snapshot,
        "retain_path": corpora_snapshot,
        "utility_path": mmlu_snapshot,
        "corpora": corpora_snapshot,
    }


TOFU_FORGET = {
    "question": ["Where was the author Lena Marsh born?", "What genre does Lena Marsh write?"],
    "answer": ["Lena Marsh was born in Oslo.", "Lena Marsh writes mystery novels."],
}
TOFU_FORGET_PERTURBED = {
    **TOFU_FORGET,
    "paraphrased_answer": ["The author was born in Oslo.", "Her books are mystery novels."],
    "paraphrased_question": ["In which city was Lena Marsh born?", "Which genre is hers?"],
    "perturbed_answer": [
        ["Lena Marsh was born in Lima.", "Lena Marsh was born in Cairo."],
        ["Lena Marsh writes poetry.", "Lena Marsh writes travel guides."],
    ],
}
TOFU_RETAIN = {
    "question": [
        "Where was the author Omar Reed born?",
        "What genre does Omar Reed write?",
        "Where was the author Ida Falk born?",
        "What genre does Ida Falk write?",
    ],
    "answer": [
        "Omar Reed was born in Quito.",
        "Omar Reed writes science fiction.",
        "Ida Falk was born in Perth.",
        "Ida Falk writes history books.",
    ],
}
TOFU_RETAIN_PERTURBED = {
    "question": TOFU_RETAIN["question"][:2],
    "answer": TOFU_RETAIN["answer"][:2],
    "paraphrased_answer": ["The author was born in Quito.", "His books are science fiction."],
    "paraphrased_question": ["In which city was Omar Reed born?", "Which genre is his?"],
    "perturbed_answer": [
        ["Omar Reed was born in Rome.", "Omar Reed was born in Lagos."],
        ["Omar Reed writes poetry.", "Omar Reed writes cookbooks."],
    ],
}
TOFU_HOLDOUT = {
    "question": ["Where was the author Noor Vale born?"],
    "answer": ["Noor Vale was born in Accra."],
}
TOFU_REAL_AUTHORS = {
    "question": ["Who wrote Pride and Prejudice?"],
    "option1": ["Jane Austen"],
    "option2": ["Mark Twain"],
    "option3": ["Leo Tolstoy"],
    "option4": ["Homer"],
    "answer": ["Jane Austen"],
    "perturbed_answer": [["Mark Twain", "Leo Tolstoy", "Homer"]],
}
TOFU_WORLD_FACTS = {
    "question": ["What is the capital of France?", "Which planet is known as the red planet?"],
    "option1": ["Paris", "Mars"],
    "option2": ["Rome", "Venus"],
    "option3": ["Berlin", "Jupiter"],
    "option4": ["Madrid", "Saturn"],
    "answer": ["Paris", "Mars"],
    "perturbed_answer": [["Rome", "Berlin", "Madrid"], ["Venus", "Jupiter", "Saturn"]],
}
TOFU = {
    "forget01": TOFU_FORGET,
    "forget01_perturbed": TOFU_FORGET_PERTURBED,
    "retain99": TOFU_RETAIN,
    "retain_perturbed": TOFU_RETAIN_PERTURBED,
    "holdout01": TOFU_HOLDOUT,
    "real_authors": {k: TOFU_REAL_AUTHORS[k] for k in ("question", "answer")},
    "real_authors_perturbed": TOFU_REAL_AUTHORS,
    "world_facts": {k: TOFU_WORLD_FACTS[k] for k in ("question", "answer")},
    "world_facts_perturbed": TOFU_WORLD_FACTS,
    "full": {k: TOFU_FORGET[k] + TOFU_RETAIN[k] for k in ("question", "answer")},
}


def write_tofu(root: Path) -> Snapshot:
    """``locuslab/TOFU``: ``<config>.json`` (JSON lines) at the root, and its README.md."""
    snap = Snapshot(root)
    for config, columns in TOFU.items():
        write_jsonl(root / f"{config}.json", columns)
        snap.rows[f"{config}/train"] = columns
    configs = "".join(f"  - config_name: {c}\n    data_files: {c}.json\n" for c in sorted(TOFU))
    (root / "README.md").write_text(f"---\nconfigs:\n{configs}---\n# TOFU\n")
    return snap


@pytest.fixture
def tofu_snapshot(tmp_path: Path) -> Snapshot:
    """``locuslab/TOFU`` in the hub layout."""
    return write_tofu(tmp_path / "TOFU")
