"""Aliases and distractors on QA items: the schema, the world-facts file, the synthetic world."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from omegaconf import OmegaConf

from unpact_exp import CONF_DIR
from unpact_exp.data.prepare import get_benchmark
from unpact_exp.data.schema import QAItem
from unpact_exp.data.synthetic import generate
from unpact_exp.data.worldfacts import item_distractors, load_facts
from unpact_exp.judge import build, gold_in_question

STRICT = build("strict", correct_threshold=0.5, rouge_stemming=False)
DEFAULT_WORLD = dict(seed=0, n_forget=20, n_retain=80, n_holdout=10, n_general_lands=12, n_icl=3)


def test_new_fields_default_to_empty() -> None:
    item = QAItem("Where was Ada born?", "Velmora", ("Ada's birthplace?",))
    assert item.aliases == () and item.distractors == ()


def by_id(facts: list[dict]) -> dict[str, dict]:
    return {f["id"]: f for f in facts}


def test_worldfacts_aliases_and_kinds() -> None:
    facts = by_id(load_facts())
    assert "Farsi" in facts["language-017"]["aliases"]  # Persian
    assert "Kiev" in facts["capital-021"]["aliases"]  # Kyiv
    assert {"American dollar", "dollar"} <= set(facts["currency-002"]["aliases"])  # US dollar
    assert facts["geography-024"]["kind"] == "continent"  # South America
    assert "kind" not in facts["capital-000"]  # a capital is a capital


def test_distractors_are_the_other_answers_of_the_kind() -> None:
    facts = load_facts()
    rows = by_id(facts)
    paris = item_distractors(rows["capital-000"], facts)
    assert paris[:3] == ["Madrid", "Moscow", "Amsterdam"]  # the MC distractors first
    assert {"London", "Berlin"} <= set(paris) and "Paris" not in paris
    assert len(paris) == 88  # every other capital
    egypt = item_distractors(rows["geography-011"], facts)  # pyramids: a country
    assert "Nile" not in egypt and {"China", "Peru"} <= set(egypt)  # Nile: another kind
    brazil = item_distractors(rows["geography-024"], facts)  # South America
    assert set(brazil) == {"Asia", "Africa", "North America", "Europe", "Antarctica"}
    spanish = item_distractors(rows["language-001"], facts)  # Mexico: Spanish (shared answer)
    assert "Spanish" not in spanish and "Portuguese" in spanish


def test_every_fact_is_judged_as_the_data_means() -> None:
    """Its statement and each of its names are right; another answer of its kind is wrong;
    only the Czech item has its gold in the question."""
    facts = load_facts()
    flagged = []
    for fact in facts:
        names, wrong = fact.get("aliases", []), item_distractors(fact, facts)
        q, gold = fact["question"], fact["answer"]
        assert STRICT.judge(q, gold, fact["statement"], aliases=names, distractors=wrong).correct
        for name in (gold, *names):
            assert STRICT.judge(q, gold, f"{name}.", aliases=names, distractors=wrong).correct
        for other in wrong[:5]:
            answer = f"The answer is {other}."
            assert not STRICT.judge(q, gold, answer, aliases=names, distractors=wrong).correct
        if gold_in_question(q, gold, names):
            flagged.append(fact["id"])
    assert flagged == ["language-025"]  # "What is the official language of the Czech Republic?"


def _data_cfg(name: str) -> object:
    return OmegaConf.load(CONF_DIR / "data" / f"{name}.yaml")


def test_worldfacts_items_carry_the_fields(tmp_path: Path) -> None:
    cfg = _data_cfg("worldfacts")
    cfg.forget_categories = ["language"]
    cfg.n_forget = 32
    bench = get_benchmark(cfg, tmp_path)
    persian = next(i for i in bench.forget_qa if i.answer == "Persian")
    assert persian.aliases == ("Farsi",)
    assert "Arabic" in persian.distractors and "Persian" not in persian.distractors
    facts = load_facts()
    expected = {f["question"]: tuple(item_distractors(f, facts)) for f in facts}
    for item in [*bench.forget_qa, *bench.retain_qa, *bench.utility_qa]:
        assert item.distractors == expected[item.question]
    # A kind with one fact has no candidates: "the largest ocean" has no distractor.
    assert expected["What is the largest ocean on Earth?"] == ()


def test_synthetic_items_carry_the_other_values(tmp_path: Path) -> None:
    bench = get_benchmark(_data_cfg("synthetic"), tmp_path)
    for item in [*bench.forget_qa, *bench.retain_qa, *bench.utility_qa]:
        assert item.answer not in item.distractors and len(item.distractors) >= 5
        assert item.aliases == ()
    born = next(i for i in bench.forget_qa if i.question.startswith("Where was"))
    assert len(born.distractors) == 13  # the 14 cities but the answer


def test_distractors_left_the_synthetic_world_unchanged() -> None:
    """Digest of every split without ``distractors``, measured with the generator before
    they were added (commit d018d9a): the same rng draws, the same world."""
    world = generate(**DEFAULT_WORLD)
    stripped = {
        k: [{f: v for f, v in row.items() if f != "distractors"} for row in rows]
        for k, rows in world.items()
    }
    digest = hashlib.sha256(json.dumps(stripped, sort_keys=True).encode()).hexdigest()
    assert digest == "5a2490840dacc4f3507dc4c3ab5f5133fec7abd6f1d5c0e4fc0e82ce918cfeac"
