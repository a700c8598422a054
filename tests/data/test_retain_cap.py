"""``data.max_retain_examples`` caps the retain corpus; retain documents are tokenized lazily."""

from __future__ import annotations

import pytest

from tests.conftest import QUIET, SMALL_WORLD, compose_cfg
from tests.data.test_loaders import data_cfg
from unpact_exp.data.loaders import load_benchmark, load_wmdp
from unpact_exp.data.schema import Benchmark, QAItem
from unpact_exp.errors import UnpactConfigError
from unpact_exp.training.datamodule import UnlearnDataModule
from unpact_exp.training.lazy_examples import LazyTextExamples
from unpact_exp.training.sequences import encode_texts


def _wmdp(paths, **overrides) -> Benchmark:
    local = {k: str(v.path) for k, v in paths.items() if k.endswith("path")}
    return load_wmdp(data_cfg("wmdp_bio", **local, **overrides))


def test_wmdp_retain_corpus_is_cut_to_the_first_n_documents(wmdp_paths) -> None:
    everything = wmdp_paths["corpora"].rows["bio-retain-corpus/train"]["text"]
    assert len(everything) == 3  # two parquet shards
    assert _wmdp(wmdp_paths, max_retain_examples=2).retain_text == everything[:2]
    assert _wmdp(wmdp_paths, max_retain_examples=10).retain_text == everything
    assert _wmdp(wmdp_paths).retain_text == everything  # null: all


def test_muse_retain_corpus_is_capped_and_the_rest_untouched(news_snapshot) -> None:
    full = load_benchmark(data_cfg("news", path=str(news_snapshot.path)))
    capped = load_benchmark(data_cfg("news", path=str(news_snapshot.path), max_retain_examples=1))
    assert len(full.retain_text) > 1 and capped.retain_text == full.retain_text[:1]
    assert capped.retain_qa == full.retain_qa  # evaluation keeps every retain question
    assert capped.forget_text == full.forget_text


@pytest.mark.parametrize("value", [0, -3, True, 2.5, "all"])
def test_bad_cap_is_named(value, news_snapshot) -> None:
    cfg = data_cfg("news", path=str(news_snapshot.path), max_retain_examples=value)
    with pytest.raises(
        UnpactConfigError, match=r"data\.max_retain_examples=.*(must be >= 1|must be an integer)"
    ):
        load_benchmark(cfg)


def test_bad_cap_fails_validation_before_any_loading(tmp_path, artifacts) -> None:
    from unpact_exp.stages.unlearn import validate

    cfg = compose_cfg([*SMALL_WORLD, *QUIET, "data.max_retain_examples=0"], tmp_path, artifacts)
    with pytest.raises(UnpactConfigError, match="data.max_retain_examples=0"):
        validate(cfg)


class CountingTokenizer:
    """Whitespace tokenizer that records every text it is asked to tokenize."""

    bos_token_id = 1

    def __init__(self) -> None:
        self.seen: list[str] = []

    def __call__(self, text: str, add_special_tokens: bool = False) -> dict[str, list[int]]:
        self.seen.append(text)
        return {"input_ids": [10 + len(word) for word in text.split()]}


DOCS = [f"document {i} " + "word " * i for i in range(8)]


def test_documents_are_tokenized_only_when_fetched() -> None:
    tok = CountingTokenizer()
    retain = LazyTextExamples(tok, DOCS, max_length=5)
    data = UnlearnDataModule(encode_texts(CountingTokenizer(), DOCS[:2], 5), retain, 2, 0, 0)
    loader = data.train_dataloader()
    assert len(retain) == 8 and tok.seen == []  # building the loader tokenizes nothing
    batch = next(iter(loader))[0]["retain"]
    assert sorted(tok.seen) == sorted(DOCS[i] for i in batch["index"].tolist())
    assert len(tok.seen) == 2


def test_a_document_is_its_first_chunk() -> None:
    """The same ids as the eager encoding's first chunk; longer documents are flagged."""
    tok = CountingTokenizer()
    retain = LazyTextExamples(tok, DOCS, max_length=5)
    for i in (0, 3, 7):
        example = retain[i]
        eager = encode_texts(tok, [DOCS[i]], 5)[0]
        assert example.input_ids == eager.input_ids == example.labels
        assert example.index == i
        assert example.truncated == (len(DOCS[i].split()) > 4)


def test_encode_retain_makes_a_capped_lazy_corpus() -> None:
    from unpact_exp.stages.unlearn import encode_retain

    class Fmt:
        answer_prefix = ""

    items = [QAItem(f"q{i}", f"a{i}") for i in range(5)]
    bench = Benchmark(name="b", retain_qa=items, retain_text=DOCS)
    tok = CountingTokenizer()
    lazy = encode_retain(tok, Fmt(), bench, "text", 5, 3)
    assert isinstance(lazy, LazyTextExamples) and len(lazy) == 3 and tok.seen == []
    fetched = [lazy[i].input_ids for i in range(3)]
    assert tok.seen == DOCS[:3]  # the cap keeps the first documents, tokenized when fetched
    assert fetched == [encode_texts(CountingTokenizer(), [d], 5)[0].input_ids for d in DOCS[:3]]
    assert len(encode_retain(tok, Fmt(), bench, "text", 5, None)) == len(DOCS)


def test_capped_text_run_trains_on_that_many_documents(tmp_path, artifacts, tiny_target) -> None:
    from unpact_exp.results import read_results
    from unpact_exp.run import main

    overrides = [
        "method=ga",
        "regularizer=gd",
        "data.train_on=text",
        "data.max_retain_examples=3",
        "trainer.max_steps=2",
    ]
    main(compose_cfg([*SMALL_WORLD, *QUIET, *overrides], tmp_path / "run", artifacts))
    results = read_results(tmp_path / "run")
    assert results["status"] == "completed" and results["n_retain_examples"] == 3
