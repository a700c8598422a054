"""Offline fixtures for the dataset loaders: tiny copies of the hub repos, in their exact layout.

Each fixture writes what ``huggingface-cli download --repo-type dataset ID --local-dir DIR``
would produce for the real repo (same folders, parquet shard names, fields and dtypes), with a
few invented rows, and returns a :class:`Snapshot` holding the path and the rows written, so
tests compare the loaded :class:`Benchmark` with what is on disk.

Layouts (checked against the repos' dataset cards and file trees on huggingface.co):
- ``muse-bench/MUSE-News`` / ``MUSE-Books``: ``raw/{forget,retain1,retain2,holdout}`` (text),
  ``knowmem/{forget_qa,retain_qa,forget_qa_icl,retain_qa_icl}`` (question, answer),
  ``verbmem/forget`` (prompt, gt), ``privleak/{forget,retain,holdout}`` (text), each
  ``<split>-00000-of-00001.parquet``; the repos also keep older files beside them
  (``knowmem/forget-qa.json``, ``verbmem/forget.json``, ``knowmem/retain2_qa-*.parquet``,
  ``privleak/forget.json``, ``privleak/retain2-*.parquet``), reproduced here as decoys that
  must not be read.
- ``cais/wmdp``: ``wmdp-{bio,cyber,chem}/test-00000-of-00001.parquet``
  (question: string, choices: list[string], answer: int64).
- ``cais/wmdp-corpora``: ``{bio-retain,cyber-forget,cyber-retain}-corpus/train-*.parquet`` (text);
  bio-retain is sharded (``train-0000k-of-00004``).
- ``cais/wmdp-bio-forget-corpus`` (gated, separate repo): one ``train`` split with a ``text``
  field (also ``title``, ``abstract``); written in the default-config layout ``data/train-*``.
- ``cais/mmlu``: ``all/{test,validation,dev}-00000-of-00001.parquet``
  (question, subject, choices, answer: ClassLabel A-D).
- ``locuslab/TOFU``: one JSON-lines file per config at the root (``README.md`` maps config
  ``forget01`` to ``data_files: forget01.json``, split ``train``): ``forget01/05/10``,
  ``retain90/95/99``, ``holdout01/05/10``, ``full``, ``real_authors``, ``world_facts``
  (question, answer); ``forget01/05/10_perturbed`` and ``retain_perturbed`` (question, answer,
  paraphrased_answer, paraphrased_question, perturbed_answer: list of strings);
  ``real_authors_perturbed`` and ``world_facts_perturbed`` (question, option1..option4, answer,
  perturbed_answer). A subset of those files, with invented rows, is written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

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


@dataclass
class Snapshot:
    """A local dataset copy: its root and the rows of each ``subset/split`` written."""

    path: Path
    rows: dict[str, dict[str, list[Any]]] = field(default_factory=dict)


def write_parquet(path: Path, columns: dict[str, list[Any]], features: Any = None) -> None:
    """Write ``columns`` to one parquet file the way the hub's ``push_to_hub`` does."""
    from datasets import Dataset

    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(columns, features=features).to_parquet(str(path))


def write_jsonl(path: Path, columns: dict[str, list[Any]]) -> None:
    """Write ``columns`` as JSON lines (the synthetic benchmark's layout)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = len(next(iter(columns.values()))) if columns else 0
    lines = [json.dumps({k: v[i] for k, v in columns.items()}) for i in range(n)]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def write_hub_split(snap: Snapshot, ref: str, columns: dict[str, list[Any]], features: Any = None):
    """Write ``subset/split`` as the hub's single shard ``<subset>/<split>-00000-of-00001``."""
    subset, split = ref.split("/")
    write_parquet(snap.path / subset / f"{split}-00000-of-00001.parquet", columns, features)
    snap.rows[ref] = columns


NEWS = {
    "raw/forget": {
        "text": [
            "Kettering council approved a footbridge over the river Ise on Monday.",
            "Rovers signed striker Ana Lopez on a three-year deal worth 2m pounds.",
        ]
    },
    "raw/retain1": {
        "text": [
            "Heavy rain closed the A174 coast road near Whitby for six hours.",
            "The Tyne Theatre reopened after a 14-month restoration.",
        ]
    },
    "raw/retain2": {"text": ["A rare white stork was seen nesting in Norfolk."]},
    "raw/holdout": {"text": ["Bus fares in Leeds will rise by 10p in April."]},
    "knowmem/forget_qa": {
        "question": ["Which river will the new footbridge cross?", "Who did Rovers sign?"],
        "answer": ["The river Ise", "Ana Lopez"],
    },
    "knowmem/retain_qa": {
        "question": ["Which road was closed near Whitby?", "Which theatre reopened?"],
        "answer": ["The A174", "The Tyne Theatre"],
    },
    "knowmem/forget_qa_icl": {
        "question": ["Which council approved the footbridge?"],
        "answer": ["Kettering council"],
    },
    "knowmem/retain_qa_icl": {
        "question": ["Where was the white stork seen?"],
        "answer": ["Norfolk"],
    },
    "verbmem/forget": {
        "prompt": ["Kettering council approved a footbridge"],
        "gt": [" over the river Ise on Monday."],
    },
    "privleak/forget": {"text": ["Rovers signed striker Ana Lopez on a three-year deal."]},
    "privleak/retain": {"text": ["The Tyne Theatre reopened after a restoration."]},
    "privleak/holdout": {"text": ["Bus fares in Leeds will rise by 10p.", "A new ferry to Hull."]},
}

BOOKS = {
    "raw/forget": {"text": ["Chapter One. The boy who lived under the stairs had a scar."]},
    "raw/retain1": {"text": ["The Hobbit opens in a hole in the ground, not a nasty one."]},
    "raw/retain2": {"text": ["Bilbo found a ring in the goblin tunnels."]},
    "raw/holdout": {"text": ["A later book in the series, never trained on."]},
    "knowmem/forget_qa": {"question": ["Where did the boy live?"], "answer": ["Under the stairs"]},
    "knowmem/retain_qa": {"question": ["What did Bilbo find?"], "answer": ["A ring"]},
    "knowmem/forget_qa_icl": {"question": ["What did the boy have?"], "answer": ["A scar"]},
    "knowmem/retain_qa_icl": {"question": ["Where does The Hobbit open?"], "answer": ["A hole"]},
    "verbmem/forget": {"prompt": ["Chapter One. The boy who lived"], "gt": [" under the stairs"]},
    "privleak/forget": {"text": ["The boy who lived under the stairs had a scar."]},
    "privleak/retain": {"text": ["Bilbo found a ring in the goblin tunnels."]},
    "privleak/holdout": {"text": ["A later book in the series, never trained on."]},
}


def write_muse(root: Path, content: dict[str, dict[str, list[Any]]]) -> Snapshot:
    """A MUSE repo snapshot, with the repo's stale files beside the parquet shards."""
    snap = Snapshot(root)
    for ref, columns in content.items():
        write_hub_split(snap, ref, columns)
    # Decoys that sit in the real repos next to the shards, with other names or schemas.
    (root / "knowmem" / "forget-qa.json").write_text(json.dumps([{"q": "stale", "a": "x"}]))
    (root / "verbmem" / "forget.json").write_text(json.dumps([{"text": "stale"}]))
    write_parquet(root / "knowmem" / "retain2_qa-00000-of-00001.parquet", {"question": ["s"]})
    (root / "privleak" / "forget.json").write_text(json.dumps([{"stale": "x"}]))
    write_parquet(root / "privleak" / "retain2-00000-of-00001.parquet", {"text": ["stale"]})
    return snap


@pytest.fixture
def news_snapshot(tmp_path: Path) -> Snapshot:
    """``muse-bench/MUSE-News`` in the hub layout."""
    return write_muse(tmp_path / "MUSE-News", NEWS)


@pytest.fixture
def books_snapshot(tmp_path: Path) -> Snapshot:
    """``muse-bench/MUSE-Books`` in the hub layout."""
    return write_muse(tmp_path / "MUSE-Books", BOOKS)


def _mc_features() -> Any:
    from datasets import Features, List, Value

    return Features(
        {"answer": Value("int64"), "question": Value("string"), "choices": List(Value("string"))}
    )


@pytest.fixture
def wmdp_snapshot(tmp_path: Path) -> Snapshot:
    """``cais/wmdp``: one config per domain, a single ``test`` split each."""
    snap = Snapshot(tmp_path / "wmdp")
    for domain, n in (("bio", 3), ("cyber", 2), ("chem", 1)):
        columns = {
            "answer": [i % 4 for i in range(n)],
            "question": [f"Which {domain} fact number {i} is true?" for i in range(n)],
            "choices": [[f"{domain} option {i}{c}" for c in "ABCD"] for i in range(n)],
        }
        write_hub_split(snap, f"wmdp-{domain}/test", columns, _mc_features())
    return snap


@pytest.fixture
def corpora_snapshot(tmp_path: Path) -> Snapshot:
    """``cais/wmdp-corpora``: bio retain (sharded), cyber forget and cyber retain corpora."""
    snap = Snapshot(tmp_path / "wmdp-corpora")
    shards = [["Bio retain paper one."], ["Bio retain paper two.", "Bio retain paper three."]]
    for k, texts in enumerate(shards):
        name = f"train-{k:05d}-of-{len(shards):05d}.parquet"
        write_parquet(snap.path / "bio-retain-corpus" / name, {"text": texts})
    snap.rows["bio-retain-corpus/train"] = {"text": [t for shard in shards for t in shard]}
    write_hub_split(snap, "cyber-forget-corpus/train", {"text": ["exploit writeup", "CVE notes"]})
    write_hub_split(snap, "cyber-retain-corpus/train", {"text": ["a sorting library README"]})
    return snap


@pytest.fixture
def bio_forget_snapshot(tmp_path: Path) -> Snapshot:
    """``cais/wmdp-bio-forget-corpus`` (gated): default config, ``data/train-*`` shards."""
    snap = Snapshot(tmp_path / "wmdp-bio-forget-corpus")
    columns = {
        "title": ["Paper A", "Paper B"],
        "abstract": ["Abstract A.", "Abstract B."],
        "text": ["Full text of paper A.", "Full text of paper B."],
    }
    write_parquet(snap.path / "data" / "train-00000-of-00001.parquet", columns)
    snap.rows["train"] = columns
    return snap


@pytest.fixture
def mmlu_snapshot(tmp_path: Path) -> Snapshot:
    """``cais/mmlu`` config ``all``: test (30 rows), validation and dev; answer is a ClassLabel."""
    from datasets import ClassLabel, Features, List, Value

    features = Features(
        {
            "question": Value("string"),
            "subject": Value("string"),
            "choices": List(Value("string")),
            "answer": ClassLabel(names=["A", "B", "C", "D"]),
        }
    )
    snap = Snapshot(tmp_path / "mmlu")
    for split, n in (("test", 30), ("validation", 4), ("dev", 2)):
        columns = {
            "question": [f"MMLU {split} question {i}?" for i in range(n)],
            "subject": ["astronomy" if i % 2 else "virology" for i in range(n)],
            "choices": [[f"{split} {i} choice {c}" for c in "ABCD"] for i in range(n)],
            "answer": [(3 * i) % 4 for i in range(n)],
        }
        write_hub_split(snap, f"all/{split}", columns, features)
    return snap


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
