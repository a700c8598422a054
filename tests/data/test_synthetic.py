"""The synthetic benchmark: deterministic from its seed, splits disjoint, layouts complete."""

from __future__ import annotations

import re

import pytest

from unpact_exp.data.synthetic import generate, write_benchmark
from unpact_exp.errors import UnpactConfigError

ARGS = dict(n_forget=20, n_retain=80, n_holdout=10, n_general_lands=12, n_icl=3)


def _words(rows: list[dict]) -> set[str]:
    text = " ".join(str(v) for row in rows for v in row.values())
    return set(re.findall(r"[A-Za-z]+", text))


def test_same_seed_same_world_other_seed_other_world() -> None:
    assert generate(seed=0, **ARGS) == generate(seed=0, **ARGS)
    assert (
        generate(seed=0, **ARGS)["knowmem/forget_qa"]
        != generate(seed=1, **ARGS)["knowmem/forget_qa"]
    )


def test_no_forget_entity_in_retain_or_general_items() -> None:
    world = generate(seed=0, **ARGS)
    forget_names = {w for e in world["entities/forget"] for w in e["name"].split()}
    assert len(world["entities/forget"]) == 20 and len(world["entities/retain"]) == 80
    for split in (
        "raw/retain1",
        "raw/retain2",
        "knowmem/retain_qa",
        "mc/retain",
        "general/qa",
        "knowmem/forget_qa_icl",
        "raw/general",
        "privleak/retain",
        "privleak/holdout",
    ):
        assert not forget_names & _words(world[split]), split
    # ...and every forget question does mention its entity.
    for row in world["knowmem/forget_qa"]:
        assert forget_names & _words([row])


def test_layout_and_fields() -> None:
    world = generate(seed=3, **ARGS)
    fields = {
        "raw/forget": {"text"},
        "raw/retain1": {"text"},
        "raw/retain2": {"text"},
        "raw/holdout": {"text"},
        "knowmem/forget_qa": {"question", "answer", "paraphrases", "distractors"},
        "knowmem/retain_qa": {"question", "answer", "distractors"},
        "knowmem/forget_qa_icl": {"question", "answer", "distractors"},
        "knowmem/retain_qa_icl": {"question", "answer", "distractors"},
        "verbmem/forget": {"prompt", "gt"},
        "privleak/forget": {"text"},
        "privleak/retain": {"text"},
        "privleak/holdout": {"text"},
        "mc/forget": {"question", "choices", "answer"},
        "mc/retain": {"question", "choices", "answer"},
        "general/qa": {"question", "answer", "distractors"},
    }
    for split, keys in fields.items():
        assert world[split], split
        assert set(world[split][0]) == keys, split
    for item in world["mc/forget"]:
        assert len(item["choices"]) == 4 and len(set(item["choices"])) == 4
        assert 0 <= item["answer"] < 4


def test_mc_answer_is_the_fact() -> None:
    world = generate(seed=0, **ARGS)
    for qa, mc in zip(world["knowmem/forget_qa"], world["mc/forget"]):
        assert mc["question"] == qa["question"]
        assert mc["choices"][mc["answer"]] == qa["answer"]


def test_bad_sizes_are_config_errors() -> None:
    with pytest.raises(UnpactConfigError, match="n_forget"):
        generate(seed=0, **{**ARGS, "n_forget": 0})
    with pytest.raises(UnpactConfigError, match="n_general_lands"):
        generate(seed=0, **{**ARGS, "n_general_lands": 99})


def test_written_once_and_atomically(tmp_path) -> None:
    out = write_benchmark(generate(seed=0, **ARGS), tmp_path / "bench")
    assert (out / "DONE").exists() and (out / "raw" / "forget.jsonl").exists()
    stamp = (out / "raw" / "forget.jsonl").stat().st_mtime_ns
    write_benchmark(generate(seed=0, **ARGS), tmp_path / "bench")  # already there: untouched
    assert (out / "raw" / "forget.jsonl").stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob(".bench.tmp-*"))


def test_forget_questions_carry_their_other_wordings() -> None:
    """The paraphrase attack's data: the attribute's other templates, never the question."""
    for row in generate(seed=3, **ARGS)["knowmem/forget_qa"]:
        assert len(row["paraphrases"]) == 2 and row["question"] not in row["paraphrases"]
        name_words = set(row["question"].split()) & set(row["paraphrases"][0].split())
        assert name_words  # the same entity is asked about
