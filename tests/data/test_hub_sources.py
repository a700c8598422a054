"""load_split / require_fields: local layouts, error messages, and fail-fast hub access."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from unpact_exp.data import hub_sources
from unpact_exp.data.loaders import load_split, require_fields
from unpact_exp.errors import DataError


def _write_parquet(path: Path, columns: dict) -> None:
    from datasets import Dataset

    path.parent.mkdir(parents=True, exist_ok=True)
    Dataset.from_dict(columns).to_parquet(str(path))


def test_hub_shards_of_news_snapshot(news_snapshot) -> None:
    ds = load_split(None, str(news_snapshot.path), "knowmem", "forget_qa", "data.path")
    assert ds["question"] == news_snapshot.rows["knowmem/forget_qa"]["question"]
    assert ds["answer"] == news_snapshot.rows["knowmem/forget_qa"]["answer"]


def test_parquet_shards_win_over_stale_json_beside_them(news_snapshot) -> None:
    ds = load_split(None, str(news_snapshot.path), "verbmem", "forget", "data.path")
    assert ds.column_names == ["prompt", "gt"]


def test_sharded_split_is_concatenated_in_shard_order(corpora_snapshot) -> None:
    ds = load_split(None, str(corpora_snapshot.path), "bio-retain-corpus", "train", "data.x")
    assert ds["text"] == corpora_snapshot.rows["bio-retain-corpus/train"]["text"]


def test_classlabel_answer_reads_as_int(mmlu_snapshot) -> None:
    ds = load_split(None, str(mmlu_snapshot.path), "all", "test", "data.utility_path")
    assert ds["answer"][:4] == [0, 3, 2, 1]


def test_default_config_layout_without_subset(bio_forget_snapshot) -> None:
    ds = load_split(None, str(bio_forget_snapshot.path), None, "train", "data.forget_path")
    assert ds["text"] == bio_forget_snapshot.rows["train"]["text"]


def test_converted_parquet_layout(tmp_path: Path) -> None:
    """The dataset viewer's refs/convert/parquet branch: <subset>/<split>/0000.parquet."""
    _write_parquet(tmp_path / "wmdp-bio" / "test" / "0000.parquet", {"question": ["q"]})
    assert load_split(None, str(tmp_path), "wmdp-bio", "test", "data.path")["question"] == ["q"]


def test_simple_jsonl_and_json_layouts(tmp_path: Path) -> None:
    (tmp_path / "general").mkdir()
    (tmp_path / "general" / "qa.jsonl").write_text('{"question": "q1", "answer": "a1"}\n')
    (tmp_path / "general" / "list.json").write_text(json.dumps([{"question": "q2"}]))
    assert load_split(None, str(tmp_path), "general", "qa", "data.path")["answer"] == ["a1"]
    assert load_split(None, str(tmp_path), "general", "list", "data.path")["question"] == ["q2"]


def test_path_may_be_a_single_file(tmp_path: Path) -> None:
    """E.g. the bio forget corpus obtained through the WMDP request form, as one .jsonl."""
    file = tmp_path / "bio_forget.jsonl"
    file.write_text('{"text": "doc one"}\n{"text": "doc two"}\n')
    ds = load_split("cais/wmdp-bio-forget-corpus", str(file), None, "train", "data.forget_path")
    assert ds["text"] == ["doc one", "doc two"]


def test_empty_files_load_as_zero_rows(tmp_path: Path) -> None:
    _write_parquet(tmp_path / "raw" / "forget-00000-of-00001.parquet", {"text": []})
    (tmp_path / "raw" / "retain1.jsonl").write_text("")
    assert len(load_split(None, str(tmp_path), "raw", "forget", "data.path")) == 0
    assert len(load_split(None, str(tmp_path), "raw", "retain1", "data.path")) == 0


def test_missing_split_names_paths_tried_and_layout(news_snapshot) -> None:
    with pytest.raises(DataError) as err:
        load_split(None, str(news_snapshot.path), "knowmem", "nope_qa", "data.path")
    msg = str(err.value)
    assert str(news_snapshot.path / "knowmem" / "nope_qa-*.parquet") in msg
    assert "data.path" in msg and "<subset>/<split>-00000-of-00001.parquet" in msg
    assert "hf download" in msg


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist"):
        load_split(None, str(tmp_path / "absent"), "raw", "forget", "data.path")


def test_offline_hub_id_fails_fast_naming_id_and_override() -> None:
    start = time.monotonic()
    with pytest.raises(DataError) as err:
        load_split("muse-bench/MUSE-News", None, "raw", "forget", "data.path")
    assert time.monotonic() - start < 10
    msg = str(err.value)
    assert "muse-bench/MUSE-News" in msg and "data.path=DIR" in msg and "HF_HUB_OFFLINE" in msg


def _fake_load_dataset(calls: list, result=None):
    def fake(hub_id, subset, split):
        import datasets.config
        import huggingface_hub.constants

        calls.append(
            (
                hub_id,
                subset,
                split,
                datasets.config.HF_HUB_OFFLINE,
                huggingface_hub.constants.HF_HUB_OFFLINE,
            )
        )
        if result is None:
            raise ConnectionError("no cache")
        return result

    return fake


def test_unreachable_hub_only_reads_cache_in_forced_offline_mode(monkeypatch) -> None:
    """No env flag, no network: the cache lookup must run with both libraries offline."""
    import datasets
    import datasets.config
    import huggingface_hub.constants

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    reason = "huggingface.co is not reachable (no network)"
    monkeypatch.setattr(hub_sources, "hub_unavailable_reason", lambda: reason)
    calls: list = []
    monkeypatch.setattr(datasets, "load_dataset", _fake_load_dataset(calls))
    with pytest.raises(DataError) as err:
        load_split("cais/wmdp", None, "wmdp-bio", "test", "data.path")
    assert calls == [("cais/wmdp", "wmdp-bio", "test", True, True)]
    assert "not reachable" in str(err.value) and "not in the local" in str(err.value)
    assert datasets.config.HF_HUB_OFFLINE is False  # restored afterwards


def test_unreachable_hub_uses_cached_copy(monkeypatch) -> None:
    import datasets

    monkeypatch.setattr(hub_sources, "hub_unavailable_reason", lambda: "HF_HUB_OFFLINE is set")
    cached = datasets.Dataset.from_dict({"text": ["cached"]})
    monkeypatch.setattr(datasets, "load_dataset", _fake_load_dataset([], cached))
    assert load_split("cais/wmdp-corpora", None, "x", "train", "data.retain_path") is cached


def test_require_fields_names_missing_field_and_source() -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"question": ["q"], "ans": ["a"]})
    with pytest.raises(DataError) as err:
        require_fields(ds, ("question", "answer"), "/snap/knowmem/forget_qa.parquet")
    assert "'answer'" in str(err.value) and "/snap/knowmem/forget_qa.parquet" in str(err.value)


@pytest.mark.parametrize("bad", ["", "   ", None])
def test_require_fields_names_row_of_empty_value(bad) -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"question": ["q0", bad, "q2"], "answer": ["a", "b", "c"]})
    with pytest.raises(DataError, match=r"Row 1 of f\.parquet has an empty 'question'"):
        require_fields(ds, ("question", "answer"), "f.parquet")


def test_require_fields_rejects_empty_choice_list() -> None:
    import datasets

    ds = datasets.Dataset.from_dict({"choices": [["a", "b"], []]})
    with pytest.raises(DataError, match="Row 1 of x has an empty 'choices'"):
        require_fields(ds, ("choices",), "x")


@pytest.mark.parametrize("name", ["forget-00000-of-00001.parquet", "forget.jsonl"])
def test_unreadable_file_names_the_file(tmp_path: Path, name: str) -> None:
    bad = tmp_path / "raw" / name
    bad.parent.mkdir()
    bad.write_text("this is not parquet {")
    with pytest.raises(DataError, match=rf"Cannot read {bad}"):
        load_split(None, str(tmp_path), "raw", "forget", "data.path")
