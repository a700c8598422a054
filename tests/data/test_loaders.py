"""load_muse / load_wmdp / load_benchmark on hub-layout fixtures, through the real YAML files."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from unpact_exp.data.loaders import load_benchmark, load_muse, load_wmdp, sample_rows
from unpact_exp.data.schema import MCItem, QAItem
from unpact_exp.errors import DataError, UnpactConfigError

CONF = Path(__file__).resolve().parents[2] / "unpact_exp" / "conf" / "data"


def data_cfg(yaml_name: str, **overrides):
    """``conf/data/<yaml_name>.yaml`` with keys overridden (as ``data.path=DIR`` would)."""
    cfg = OmegaConf.load(CONF / f"{yaml_name}.yaml")
    for key, value in overrides.items():
        cfg[key] = value
    return cfg


def qa(columns: dict, q: str = "question", a: str = "answer") -> list[QAItem]:
    return [QAItem(x, y) for x, y in zip(columns[q], columns[a])]


def mc(columns: dict, subject: str = "") -> list[MCItem]:
    """MC items of hub columns; the subject is the ``subject`` column's, else ``subject``."""
    subjects = columns.get("subject", [subject] * len(columns["question"]))
    return [
        MCItem(q, tuple(c), a, s.replace("_", " "))
        for q, c, a, s in zip(columns["question"], columns["choices"], columns["answer"], subjects)
    ]


@pytest.mark.parametrize("name", ["news", "books"])
def test_muse_yaml_loads_snapshot(name, request) -> None:
    snap = request.getfixturevalue(f"{name}_snapshot")
    rows = snap.rows
    bench = load_benchmark(data_cfg(name, path=str(snap.path)))
    assert bench.name == name
    assert bench.forget_text == rows["raw/forget"]["text"]
    assert bench.retain_text == rows["raw/retain1"]["text"]
    assert bench.forget_qa == qa(rows["knowmem/forget_qa"])
    assert bench.retain_qa == qa(rows["knowmem/retain_qa"])
    assert bench.icl == qa(rows["knowmem/forget_qa_icl"])
    assert bench.retain_icl == qa(rows["knowmem/retain_qa_icl"])
    assert bench.retain_icl != bench.icl
    assert bench.verbmem_forget == qa(rows["verbmem/forget"], "prompt", "gt")
    assert bench.privleak_forget == rows["privleak/forget"]["text"]
    assert bench.privleak_holdout == rows["privleak/holdout"]["text"]
    assert bench.utility_qa == []  # MUSE's only retain questions are retain_qa, counted there
    assert bench.mc_forget == bench.mc_retain == bench.utility_mc == []


def test_muse_utility_items_that_are_retain_items_are_kept_once(news_snapshot) -> None:
    """utility_qa on the retain split (the old news.yaml) must not score each question twice."""
    cfg = data_cfg("news", path=str(news_snapshot.path), utility_qa="knowmem/retain_qa")
    bench = load_benchmark(cfg)
    assert bench.retain_qa == qa(news_snapshot.rows["knowmem/retain_qa"])
    assert bench.utility_qa == []
    utility = bench.retain_qa + bench.utility_qa
    assert len(utility) == len(set(utility)) == 2


def test_muse_utility_items_keep_new_ones_once(news_snapshot) -> None:
    cfg = data_cfg("news", path=str(news_snapshot.path), utility_qa="knowmem/forget_qa_icl")
    extra = news_snapshot.rows["knowmem/forget_qa_icl"]
    assert load_benchmark(cfg).utility_qa == qa(extra)


def test_wmdp_bio_yaml_loads_snapshots(wmdp_paths) -> None:
    paths = {k: str(v.path) for k, v in wmdp_paths.items() if k.endswith("path")}
    bench = load_benchmark(data_cfg("wmdp_bio", **paths))
    assert bench.name == "wmdp_bio"
    assert bench.mc_forget == mc(wmdp_paths["path"].rows["wmdp-bio/test"], "biology")
    assert bench.forget_text == wmdp_paths["forget_path"].rows["train"]["text"]
    assert bench.retain_text == wmdp_paths["corpora"].rows["bio-retain-corpus/train"]["text"]
    # utility_size 200 > 30 test rows: all of MMLU all/test, in file order.
    assert bench.utility_mc == mc(wmdp_paths["utility_path"].rows["all/test"])
    assert bench.forget_qa == bench.retain_qa == bench.utility_qa == []


def test_wmdp_cyber_yaml_reads_both_corpora_from_one_repo(wmdp_paths) -> None:
    corpora = wmdp_paths["corpora"]
    cfg = data_cfg(
        "wmdp_cyber",
        path=str(wmdp_paths["path"].path),
        forget_path=str(corpora.path),
        retain_path=str(corpora.path),
        utility_path=str(wmdp_paths["utility_path"].path),
    )
    bench = load_benchmark(cfg)
    assert bench.mc_forget == mc(wmdp_paths["path"].rows["wmdp-cyber/test"], "cybersecurity")
    assert bench.forget_text == corpora.rows["cyber-forget-corpus/train"]["text"]
    assert bench.retain_text == corpora.rows["cyber-retain-corpus/train"]["text"]


def test_utility_sample_is_seeded(wmdp_paths) -> None:
    paths = {k: str(v.path) for k, v in wmdp_paths.items() if k.endswith("path")}

    def sample(seed: int) -> list[MCItem]:
        cfg = data_cfg("wmdp_bio", utility_size=10, utility_seed=seed, **paths)
        return load_wmdp(cfg).utility_mc

    first, again, other = sample(0), sample(0), sample(1)
    assert len(first) == 10 and first == again and first != other
    all_items = mc(wmdp_paths["utility_path"].rows["all/test"])
    assert [all_items.index(item) for item in first] == sorted(sample_rows(30, 10, 0))


def test_synthetic_layout_with_extra_subsets(tmp_path: Path) -> None:
    """The synthetic benchmark: <subset>/<split>.jsonl, plus mc/* and general/qa."""
    files = {
        "raw/forget": ['{"text": "Ada Moor was born in Oslo."}'],
        "raw/retain1": ['{"text": "Ben Lund works as a baker."}'],
        "knowmem/forget_qa": ['{"question": "Where was Ada Moor born?", "answer": "Oslo"}'],
        "knowmem/retain_qa": ['{"question": "What is Ben Lund\'s job?", "answer": "baker"}'],
        "mc/forget": [
            '{"question": "Ada Moor was born in?", "choices": ["Oslo", "Rome"], "answer": 0}'
        ],
        "mc/retain": ['{"question": "Ben Lund is a?", "choices": ["pilot", "baker"], "answer": 1}'],
        "general/qa": ['{"question": "What is 2 + 2?", "answer": "4"}'],
    }
    for ref, lines in files.items():
        (tmp_path / ref).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / f"{ref}.jsonl").write_text("\n".join(lines) + "\n")
    cfg = data_cfg(
        "news",
        name="synthetic",
        source="synthetic",
        hub_id=None,
        path=str(tmp_path),
        icl=None,
        retain_icl=None,
        verbmem=None,
        privleak_forget=None,
        privleak_holdout=None,
        mc_forget="mc/forget",
        mc_retain="mc/retain",
        utility_qa="general/qa",
        utility_mc="mc/retain",
        train_on="qa",
    )
    bench = load_benchmark(cfg)
    assert bench.forget_text == ["Ada Moor was born in Oslo."]
    assert bench.forget_qa == [QAItem("Where was Ada Moor born?", "Oslo")]
    assert bench.mc_forget == [MCItem("Ada Moor was born in?", ("Oslo", "Rome"), 0)]
    assert bench.mc_retain == bench.utility_mc == [MCItem("Ben Lund is a?", ("pilot", "baker"), 1)]
    assert bench.utility_qa == [QAItem("What is 2 + 2?", "4")]
    assert bench.icl == bench.retain_icl == bench.verbmem_forget == []
    assert bench.privleak_forget == bench.privleak_holdout == []


def test_missing_field_names_field_and_file(news_snapshot) -> None:
    bad = news_snapshot.path / "knowmem" / "forget_qa-00000-of-00001.parquet"
    from datasets import Dataset

    Dataset.from_dict({"question": ["q"], "gold": ["a"]}).to_parquet(str(bad))
    with pytest.raises(DataError) as err:
        load_benchmark(data_cfg("news", path=str(news_snapshot.path)))
    assert "'answer'" in str(err.value) and str(bad) in str(err.value)


def test_empty_row_names_row_and_file(news_snapshot) -> None:
    bad = news_snapshot.path / "verbmem" / "forget-00000-of-00001.parquet"
    from datasets import Dataset

    Dataset.from_dict({"prompt": ["p0", "p1"], "gt": ["g0", " "]}).to_parquet(str(bad))
    with pytest.raises(DataError, match=rf"Row 1 of {re.escape(str(bad))}.*empty 'gt'"):
        load_benchmark(data_cfg("news", path=str(news_snapshot.path)))


@pytest.mark.parametrize("key, ref", [("forget", "raw/forget"), ("retain", "raw/retain1")])
def test_empty_forget_or_retain_split_is_named(news_snapshot, key, ref) -> None:
    from datasets import Dataset, Features, Value

    shard = news_snapshot.path / f"{ref}-00000-of-00001.parquet"
    Dataset.from_dict({"text": []}, features=Features({"text": Value("string")})).to_parquet(
        str(shard)
    )
    with pytest.raises(DataError, match=rf"The {key} split '{ref}' of 'news' is empty"):
        load_benchmark(data_cfg("news", path=str(news_snapshot.path)))


def test_empty_wmdp_retain_corpus_is_named(wmdp_paths, tmp_path: Path) -> None:
    paths = {k: str(v.path) for k, v in wmdp_paths.items() if k.endswith("path")}
    empty = tmp_path / "empty_retain.jsonl"
    empty.write_text("")
    with pytest.raises(DataError, match="retain split 'bio-retain-corpus/train'.*is empty"):
        load_wmdp(data_cfg("wmdp_bio", **{**paths, "retain_path": str(empty)}))


def test_mc_answer_out_of_range(tmp_path: Path, wmdp_paths) -> None:
    from datasets import Dataset

    (tmp_path / "wmdp-bio").mkdir()
    shard = tmp_path / "wmdp-bio" / "test-00000-of-00001.parquet"
    Dataset.from_dict({"question": ["q"], "choices": [["a", "b"]], "answer": [2]}).to_parquet(
        str(shard)
    )
    paths = {k: str(v.path) for k, v in wmdp_paths.items() if k.endswith("path")}
    with pytest.raises(DataError, match=r"Row 0 of .*answer 2 not in 0\.\.1"):
        load_wmdp(data_cfg("wmdp_bio", **{**paths, "path": str(tmp_path)}))


@pytest.mark.parametrize("name", ["news", "books", "wmdp_bio", "wmdp_cyber"])
def test_hub_ids_fail_fast_offline_naming_override(name) -> None:
    cfg = data_cfg(name)
    start = time.monotonic()
    with pytest.raises(DataError) as err:
        load_benchmark(cfg)
    assert time.monotonic() - start < 10
    first_id = cfg.hub_id
    assert f"'{first_id}'" in str(err.value) and "`data.path=DIR`" in str(err.value)


def test_wmdp_names_the_override_of_the_part_that_failed(wmdp_paths) -> None:
    cfg = data_cfg("wmdp_bio", path=str(wmdp_paths["path"].path))
    with pytest.raises(DataError) as err:
        load_wmdp(cfg)
    assert "'cais/wmdp-bio-forget-corpus'" in str(err.value)
    assert "`data.forget_path=DIR`" in str(err.value)


def test_unknown_source_lists_choices() -> None:
    choices = r"\['muse', 'synthetic', 'tofu', 'wmdp'\]"
    with pytest.raises(UnpactConfigError, match=rf"'pistol'.*{choices}"):
        load_benchmark(data_cfg("news", source="pistol"))


def test_missing_key_is_named() -> None:
    cfg = OmegaConf.to_container(data_cfg("news"))
    del cfg["verbmem"]
    with pytest.raises(UnpactConfigError, match="no key 'verbmem'"):
        load_benchmark(cfg)


@pytest.mark.parametrize(
    "name, key, value, pattern",
    [
        ("news", "train_on", "tokens", r"train_on='tokens'.*\['text', 'qa'\]"),
        ("wmdp_bio", "train_on", "qa", r"train_on='qa'.*\['text'\]"),
        ("news", "forget", "raw/forget/x", "not a split reference"),
        ("news", "retain", None, "must name a split"),
        ("news", "max_length", 0, "max_length=0"),
        ("wmdp_bio", "utility_size", -1, "utility_size=-1"),
    ],
)
def test_bad_values_are_named(name, key, value, pattern) -> None:
    with pytest.raises(UnpactConfigError, match=pattern):
        load_benchmark(data_cfg(name, **{key: value}))


def test_train_on_qa_needs_qa_splits(news_snapshot) -> None:
    cfg = data_cfg("news", path=str(news_snapshot.path), train_on="qa", retain_qa=None)
    with pytest.raises(UnpactConfigError, match="train_on=qa needs data.retain_qa"):
        load_muse(cfg)


@pytest.mark.parametrize("name", ["news", "books", "wmdp_bio", "wmdp_cyber"])
def test_every_yaml_key_is_documented(name) -> None:
    lines = (CONF / f"{name}.yaml").read_text().splitlines()
    keys = [line for line in lines if re.match(r"^\w+:", line)]
    assert keys and all("#" in line for line in keys)
    assert len(keys) == len(OmegaConf.load(CONF / f"{name}.yaml"))
