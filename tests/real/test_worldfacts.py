"""The world-facts data file and its splits (no model needed, fast)."""

from __future__ import annotations

import pytest

from unpact_exp.data.worldfacts import build_splits, categories, load_facts
from unpact_exp.errors import UnpactConfigError


def test_data_file_is_well_formed() -> None:
    facts = load_facts()
    assert len(facts) >= 300
    assert len(categories(facts)) >= 8
    assert len({f["id"] for f in facts}) == len(facts)
    assert len({f["question"] for f in facts}) == len(facts)
    for f in facts:
        assert f["question"].endswith("?"), f
        assert f["statement"].endswith((f["answer"], f["answer"] + ".")), f
        assert len(f["distractors"]) == 3 and f["answer"] not in f["distractors"], f
        assert len(set(f["distractors"])) == 3, f


def test_splits_are_disjoint_seeded_and_sized() -> None:
    facts = load_facts()
    kwargs = dict(forget_categories=["capital"], n_forget=12, n_utility=10, n_icl=2)
    splits = build_splits(facts, seed=0, **kwargs)
    assert splits == build_splits(facts, seed=0, **kwargs)
    assert splits["knowmem/forget_qa"] != build_splits(facts, seed=1, **kwargs)["knowmem/forget_qa"]
    ids = {k: {r["id"] for r in splits[k]} for k in ("raw/forget", "raw/retain1", "general/qa")}
    icl = {r["id"] for r in splits["knowmem/forget_qa_icl"]}
    assert len(ids["raw/forget"]) == 12 and len(ids["general/qa"]) == 10 and len(icl) == 2
    assert all(i.startswith("capital-") for i in ids["raw/forget"])
    parts = [ids["raw/forget"], ids["raw/retain1"], ids["general/qa"], icl]
    assert sum(map(len, parts)) == len(facts) == len(set().union(*parts))
    # the retain set keeps the other capitals: neighbouring knowledge the methods must spare
    assert any(i.startswith("capital-") for i in ids["raw/retain1"])
    # PrivLeak (MUSE layout): members = the forget statements, non-members = the utility facts
    assert {r["id"] for r in splits["privleak/forget"]} == ids["raw/forget"]
    assert {r["id"] for r in splits["privleak/holdout"]} == ids["general/qa"]
    assert {r["id"] for r in splits["privleak/retain"]} == ids["raw/retain1"]


def test_mc_and_verbmem_rows_match_the_facts() -> None:
    facts = {f["question"]: f for f in load_facts()}
    splits = build_splits(list(facts.values()), 0, ["element"], 5, 5, 0)
    for row in splits["mc/forget"]:
        fact = facts[row["question"]]
        assert row["choices"][row["answer"]] == fact["answer"]
        assert sorted(row["choices"]) == sorted([fact["answer"], *fact["distractors"]])
    statements = {f["statement"] for f in facts.values()}
    for row in splits["verbmem/forget"]:
        assert f"{row['prompt']} {row['gt']}" in statements


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(forget_categories=["capitals"], n_forget=3), "unknown categories.*capital"),
        (dict(forget_categories=["planet"], n_forget=3), "unknown categories"),
        (dict(forget_categories=["painting"], n_forget=999), "n_forget=999"),
        (dict(forget_categories=None, n_forget=None), "leave no retain"),
    ],
)
def test_bad_settings_name_the_key(kwargs: dict, match: str) -> None:
    with pytest.raises(UnpactConfigError, match=match):
        build_splits(load_facts(), seed=0, n_utility=5, n_icl=0, **kwargs)


def test_config_loads_through_the_muse_loader(make_cfg) -> None:
    from unpact_exp.data.prepare import get_benchmark

    cfg = make_cfg("data=worldfacts", "model=smollm2_135m")
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    assert bench.name == "worldfacts"
    n = cfg.data.n_forget
    assert len(bench.forget_qa) == len(bench.forget_text) == len(bench.mc_forget) == n
    assert len(bench.utility_qa) == cfg.data.n_utility and bench.icl == []
    assert len(bench.retain_qa) == len(bench.retain_text) > 100
    forget = {q.question for q in bench.forget_qa}
    assert forget.isdisjoint(q.question for q in bench.retain_qa + bench.utility_qa)
    assert all(q.question.startswith("What is the capital of") for q in bench.forget_qa)
    assert bench.privleak_forget == bench.forget_text
    assert len(bench.privleak_holdout) == cfg.data.n_utility
    assert set(bench.privleak_holdout).isdisjoint(bench.forget_text + bench.retain_text)
