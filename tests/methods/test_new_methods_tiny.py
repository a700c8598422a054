"""SimNPO, IdkDPO and UNDIAL train on the tiny target and move the forget NLL the intended way.

10 steps at the tiny target's learning rate (conf/method_model/<method>_tiny.yaml). "Intended":
the token-mean NLL of the forget answers rises (each method lowers their likelihood), the
forget correct rate falls to at most half the target's, and IdkDPO makes its refusals likelier.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from unpact_exp.config.binder import bind
from unpact_exp.data.prepare import get_benchmark
from unpact_exp.data.schema import QAItem
from unpact_exp.methods.token_logprobs import mean_nll
from unpact_exp.models.loading import load_pretrained, target_dir
from unpact_exp.models.prompt import PromptFormat
from unpact_exp.results import read_results
from unpact_exp.run import main
from unpact_exp.stages.settings import run_settings
from unpact_exp.stages.target import correct_rate
from unpact_exp.training.sequences import PadCollator, encode_qa


def answer_nll(folder: Path, cfg, items: list[QAItem]) -> float:
    """Token-mean NLL of the answers of ``items`` under the model in ``folder``."""
    model, tok = load_pretrained(str(folder), "float32", False)
    fmt = bind(PromptFormat, cfg.model.prompt, "model.prompt")
    batch = PadCollator(tok.pad_token_id)(encode_qa(tok, fmt, items, int(cfg.model.max_length)))
    with torch.no_grad():
        logits = model.eval()(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    return float(mean_nll(logits.logits, batch["labels"]))


@pytest.mark.parametrize("method", ["simnpo", "idkdpo", "undial"])
def test_method_raises_the_forget_nll(method: str, make_cfg, tiny_target) -> None:
    cfg = make_cfg(f"method={method}", "regularizer=none", "trainer.max_steps=10")
    main(cfg)
    run = Path(cfg.paths.output_dir)
    results = read_results(run)
    assert results["status"] == "completed" and results["steps"] == 10
    assert results["method"] == method
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    target = target_dir(cfg.paths.artifacts_dir, "tiny", "synthetic")
    before = answer_nll(target, cfg, bench.forget_qa)
    after = answer_nll(run / "unlearned", cfg, bench.forget_qa)
    assert after > before + 0.5, (before, after)
    model, tok = load_pretrained(str(run / "unlearned"), "float32", False)
    forget_rate = correct_rate(model.eval(), tok, bench.forget_qa, run_settings(cfg))
    assert forget_rate <= 0.5 * tiny_target["forget_correct_rate"], forget_rate
    if method == "idkdpo":
        refusal = cfg.method.idk_answers[0]
        idk = [QAItem(item.question, refusal) for item in bench.forget_qa]
        assert answer_nll(run / "unlearned", cfg, idk) < answer_nll(target, cfg, idk)


def test_idkdpo_refuses_raw_text_forget_data(make_cfg, tiny_target) -> None:
    from unpact_exp.errors import UnpactConfigError

    cfg = make_cfg("method=idkdpo", "data.train_on=text", "trainer.max_steps=1")
    with pytest.raises(UnpactConfigError, match="data.train_on=qa"):
        main(cfg)


def test_muse_formulas_train_on_the_tiny_target(make_cfg, tiny_target) -> None:
    """method.formula=muse with regularizer.formula=muse (MUSE's npo_klr) runs and forgets."""
    overrides = ["method=npo", "regularizer=kl", "method.formula=muse", "regularizer.formula=muse"]
    cfg = make_cfg(*overrides, "trainer.max_steps=10")
    main(cfg)
    run = Path(cfg.paths.output_dir)
    assert read_results(run)["status"] == "completed"
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    target = target_dir(cfg.paths.artifacts_dir, "tiny", "synthetic")
    before = answer_nll(target, cfg, bench.forget_qa)
    assert answer_nll(run / "unlearned", cfg, bench.forget_qa) > before
