"""WMDP with ``data.retain_source=wikitext``: the RMU paper's retain set, through the hub code.

The fixture is ``Salesforce/wikitext`` in the hub's layout (``wikitext-2-raw-v1/
test-00000-of-00001.parquet``, one ``text`` column, blank lines between paragraphs as in
the real file), read offline through a local snapshot.
"""

from __future__ import annotations

import pytest

from tests.data.test_loaders import data_cfg
from tests.fixtures.hub_snapshots import Snapshot, write_hub_split
from unpact_exp.data.loaders import load_wmdp
from unpact_exp.errors import DataError, UnpactConfigError

WIKITEXT_ROWS = [
    "",
    " = Robert Boulter = \n",
    "",
    " Robert Boulter is an English film , television and theatre actor . \n",
    "   \n",
    " = = Career = = \n",
    "",
]
NON_BLANK = [WIKITEXT_ROWS[i] for i in (1, 3, 5)]


@pytest.fixture
def wikitext_snapshot(tmp_path) -> Snapshot:
    snap = Snapshot(tmp_path / "wikitext")
    write_hub_split(snap, "wikitext-2-raw-v1/test", {"text": WIKITEXT_ROWS})
    write_hub_split(snap, "wikitext-103-raw-v1/train", {"text": ["", " = Other = \n"]})
    return snap


def _cfg(wmdp_paths, wikitext_snapshot, **overrides):
    local = {k: str(v.path) for k, v in wmdp_paths.items() if k.endswith("path")}
    return data_cfg("wmdp_bio", **local, wikitext_path=str(wikitext_snapshot.path), **overrides)


def test_defaults_are_the_wmdp_corpus_and_rmus_wikitext_split() -> None:
    for name in ("wmdp_bio", "wmdp_cyber"):
        cfg = data_cfg(name)
        assert cfg.retain_source == "wmdp_corpus"
        assert cfg.wikitext_hub_id == "Salesforce/wikitext"
        assert cfg.wikitext == "wikitext-2-raw-v1/test" and cfg.wikitext_path is None


def test_wikitext_retain_drops_blank_lines(wmdp_paths, wikitext_snapshot) -> None:
    bench = load_wmdp(_cfg(wmdp_paths, wikitext_snapshot, retain_source="wikitext"))
    assert bench.retain_text == NON_BLANK
    assert bench.forget_text == wmdp_paths["forget_path"].rows["train"]["text"]  # unchanged


def test_wikitext_103_is_one_key_away(wmdp_paths, wikitext_snapshot) -> None:
    cfg = _cfg(
        wmdp_paths,
        wikitext_snapshot,
        retain_source="wikitext",
        wikitext="wikitext-103-raw-v1/train",
    )
    assert load_wmdp(cfg).retain_text == [" = Other = \n"]


def test_cap_counts_non_blank_documents(wmdp_paths, wikitext_snapshot) -> None:
    cfg = _cfg(wmdp_paths, wikitext_snapshot, retain_source="wikitext", max_retain_examples=2)
    assert load_wmdp(cfg).retain_text == NON_BLANK[:2]


def test_wmdp_corpus_source_never_reads_wikitext(wmdp_paths) -> None:
    local = {k: str(v.path) for k, v in wmdp_paths.items() if k.endswith("path")}
    bench = load_wmdp(data_cfg("wmdp_bio", **local))  # wikitext_path null, hub offline: fine
    assert bench.retain_text == wmdp_paths["corpora"].rows["bio-retain-corpus/train"]["text"]


def test_bad_retain_source_is_named(wmdp_paths, wikitext_snapshot) -> None:
    cfg = _cfg(wmdp_paths, wikitext_snapshot, retain_source="wiki")
    with pytest.raises(UnpactConfigError, match=r"data\.retain_source='wiki'.*wmdp_corpus"):
        load_wmdp(cfg)


def test_wikitext_hub_id_offline_names_its_override(wmdp_paths) -> None:
    local = {k: str(v.path) for k, v in wmdp_paths.items() if k.endswith("path")}
    with pytest.raises(DataError) as err:
        load_wmdp(data_cfg("wmdp_bio", **local, retain_source="wikitext"))
    assert "'Salesforce/wikitext'" in str(err.value)
    assert "`data.wikitext_path=DIR`" in str(err.value)
