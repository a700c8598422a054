"""UNPACT on the built tiny target: batched and one-at-a-time scores agree to 1e-4.

Both granularities and both removal modes, on real forget questions of the target.
"""

from __future__ import annotations

import pytest

from unpact_exp.config.binder import bind
from unpact_exp.data.prepare import get_benchmark
from unpact_exp.models.loading import load_pretrained, target_dir
from unpact_exp.models.prompt import PromptFormat
from unpact_exp.unpact.contributions import prompt_contributions


@pytest.mark.parametrize("granularity", ["token", "word"])
@pytest.mark.parametrize("removal", ["delete", "replace"])
def test_batched_equals_unbatched_on_target(granularity, removal, make_cfg, tiny_target) -> None:
    cfg = make_cfg()
    model, tok = load_pretrained(
        str(target_dir(cfg.paths.artifacts_dir, "tiny", "synthetic")), "float32", False
    )
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    fmt = bind(PromptFormat, cfg.model.prompt, "model.prompt")
    items = bench.forget_qa[:6] + bench.utility_qa[:4]
    prompts = [fmt.parts(i.question, tok) for i in items]
    answers = [i.answer for i in items]
    args = (fmt.answer_prefix, granularity, removal, None)
    batched = prompt_contributions(model.eval(), tok, prompts, answers, *args, 64)
    for p, a, b in zip(prompts, answers, batched):
        (single,) = prompt_contributions(model, tok, [p], [a], *args, 1)
        assert single.units == b.units and single.spans == b.spans
        assert single.lp == pytest.approx(b.lp, abs=1e-4)
        assert single.contributions == pytest.approx(b.contributions, abs=1e-4)
    # The target knows these answers, and something in each question drives it.
    assert all(max(b.contributions) > 0.05 for b in batched)
