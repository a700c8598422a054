"""Forget questions get the forget ICL examples, retain and utility ones the retain ICL (MUSE)."""

from __future__ import annotations

from omegaconf import OmegaConf

from tests.model_fixtures import make_evaluator
from tests.tokenizers.recording import RecordingLM
from unpact_exp.data.schema import Benchmark, QAItem


def test_retain_and_utility_prompts_use_retain_icl(tokenizer, prompt_format, cfg):
    forget_icl = [QAItem("Who is Dan Brown?", "a baker in Rome")]
    retain_icl = [QAItem("Where is the river bank?", "near the lazy dog")]
    bench = Benchmark(
        name="handmade",
        forget_qa=[QAItem("Where was Alice Smith born?", "Paris")],
        retain_qa=[QAItem("Who is Carol White?", "the mother")],
        icl=forget_icl,
        retain_icl=retain_icl,
        utility_qa=[QAItem("What is Paris?", "a city")],
    )
    model = RecordingLM(len(tokenizer), tokenizer.eos_token_id)
    root = OmegaConf.merge(cfg, {"eval": {"rate_items": "qa"}})
    make_evaluator(model, tokenizer, prompt_format, bench, root)
    asked = {}
    for ids in model.seen:
        text = tokenizer.decode(ids, skip_special_tokens=True)
        for item in (*bench.forget_qa, *bench.retain_qa, *bench.utility_qa):
            if item.question in text:
                asked.setdefault(item.question, text)
    forget, retain, utility = (
        asked[bench.forget_qa[0].question],
        asked[bench.retain_qa[0].question],
        asked[bench.utility_qa[0].question],
    )
    assert "Dan Brown" in forget and "river bank" not in forget
    for text in (retain, utility):
        assert "river bank" in text and "Dan Brown" not in text
