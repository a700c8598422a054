"""KeyToken-weighted GA/NPO and the forget-term weight on the tiny target (docs/science.md §11, 12).

A weighted run trains, logs its weights, keeps them in its checkpoints, and a run killed
mid-way and rerun ends exactly as the uninterrupted one (the weights come back from the
checkpoint; they are never recomputed with the partly unlearned policy).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.conftest import QUIET, SMALL_WORLD, compose_cfg
from tests.reliability.helpers import assert_same_run, checkpoint
from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods import registry
from unpact_exp.methods.regularizers import build_regularizer
from unpact_exp.results import read_results
from unpact_exp.run import main
from unpact_exp.stages.settings import run_settings
from unpact_exp.stages.unlearn import validate
from unpact_exp.training.module import UnlearnModule

NPO_KEYTOKEN = [
    "method=npo",
    "regularizer=gd",
    "method.token_weighting=keytoken",
    "trainer.max_steps=5",
    "trainer.checkpoint_every_n_steps=1",
]


class Crash(RuntimeError):
    """Stands in for a kill after a step's checkpoint."""


def _cfg(run_dir: Path, artifacts: Path, *overrides: str):
    return compose_cfg([*SMALL_WORLD, *QUIET, *overrides], run_dir, artifacts)


def _record_logs(monkeypatch) -> list[tuple[str, float]]:
    seen: list[tuple[str, float]] = []
    original = UnlearnModule.log

    def log(self, name, value, *args, **kwargs):
        seen.append((name, float(value)))
        return original(self, name, value, *args, **kwargs)

    monkeypatch.setattr(UnlearnModule, "log", log)
    return seen


def test_defaults_and_every_option_compose(make_cfg) -> None:
    cfg = make_cfg("method=ga", "regularizer=kl")
    assert cfg.method.token_weighting == "uniform" and cfg.method.forget_weight == 1.0
    assert "keytokens" not in cfg.method  # the unpact group reaches a method at run time
    assert cfg.regularizer.positions == "answer" and cfg.eval.rouge_stemming is False
    assert make_cfg("method=rmu", "regularizer=none").method.reduction == "tokens"
    for method in ("ga", "npo"):
        for weighting in ("uniform", "keytoken", "question"):
            cfg = make_cfg(
                f"method={method}",
                f"method.token_weighting={weighting}",
                "method.forget_weight=0.5",
                "unpact.alpha=0.5",
            )
            validate(cfg)
            unpact = run_settings(cfg).unpact
            runtime = {"n_forget": 3, "forget_prompts": lambda *a: None, "unpact": unpact}
            objective = registry.build(cfg.method, runtime)
            assert objective.forget_weight == 0.5
            assert (objective.token_weights is None) == (weighting == "uniform")
            if weighting != "uniform":
                assert objective.token_weights.unpact.alpha == 0.5
    for positions in ("answer", "all"):
        cfg = make_cfg("regularizer=kl", f"regularizer.positions={positions}")
        assert build_regularizer(cfg.regularizer).positions == positions
    for reduction in ("tokens", "sequence", "all_positions"):
        cfg = make_cfg("method=rmu", "regularizer=none", f"method.reduction={reduction}")
        validate(cfg)
        assert registry.build(cfg.method, {"hidden_size": 4, "seed": 0}).reduction == reduction
    validate(make_cfg("eval.rouge_stemming=true"))


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (["method.token_weighting=keytokens"], "token_weighting='keytokens'.*question"),
        (["method.forget_weight=-1"], "method.forget_weight=-1"),
        (["method.token_weighting=question", "method.keytoken_window=0"], "keytoken_window=0"),
        (
            ["method.forget_weight=abc"],
            "method.forget_weight='abc' is not valid; it must be a number",
        ),
        (["regularizer=kl", "regularizer.positions=every"], "regularizer.positions='every'"),
        (["method=rmu", "method.reduction=mean"], "method.reduction='mean'"),
        (["eval.rouge_stemming=yes"], "eval.rouge_stemming='yes'"),
    ],
)
def test_bad_values_name_the_key_and_the_choices(overrides, match, make_cfg) -> None:
    reg = [] if any(o.startswith("regularizer=") for o in overrides) else ["regularizer=none"]
    cfg = make_cfg(*reg, *overrides)
    runtime = {"n_forget": 3, "hidden_size": 4, "seed": 0, "forget_prompts": lambda *a: None}
    runtime["unpact"] = None
    with pytest.raises(UnpactConfigError, match=match):
        validate(cfg)
        registry.build(cfg.method, runtime)


def test_keytoken_weighting_on_raw_text_trains_window_by_window(
    make_cfg, tiny_target, monkeypatch
) -> None:
    seen = _record_logs(monkeypatch)
    cfg = make_cfg(
        "method=ga",
        "data.train_on=text",
        "method.token_weighting=keytoken",
        "method.keytoken_window=8",
        "trainer.max_steps=2",
        "trainer.checkpoint_every_n_steps=1",
    )
    main(cfg)
    run = Path(cfg.paths.output_dir)
    assert read_results(run)["status"] == "completed"
    raw = checkpoint(run)["state_dict"]["objective.token_weights.raw"]
    first = raw[:, :8]  # every chunk's first window: one shared value, the mean of the rest
    assert torch.allclose(first, first[0, 0].expand_as(first)) and float(first[0, 0]) > 0
    assert (raw[:, 8:] > 0).any() and (raw[:, 8:] == 0).any()
    assert any(name == "train/token_weight_max" for name, _ in seen)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, artifacts, tiny_target) -> tuple[Path, list[tuple[str, float]]]:
    """The uninterrupted keytoken NPO run, and what it logged."""
    run_dir = tmp_path_factory.mktemp("npo-keytoken-ref")
    with pytest.MonkeyPatch.context() as patch:
        seen = _record_logs(patch)
        main(_cfg(run_dir, artifacts, *NPO_KEYTOKEN))
    return run_dir, seen


def test_keytoken_npo_trains_logs_its_weights_and_checkpoints_them(reference) -> None:
    run_dir, seen = reference
    results = read_results(run_dir)
    assert results["status"] == "completed" and results["steps"] == 5
    state = checkpoint(run_dir)["state_dict"]
    raw = state["objective.token_weights.raw"]
    assert raw.shape[0] == results["n_forget_examples"]
    assert bool(state["objective.token_weights.ready"])
    assert (raw > 0).any() and (raw == 0).any()  # some answer tokens carry the fact, some not
    assert torch.isfinite(state["objective.token_weights.ref_logp"]).all()
    maxima = [v for name, v in seen if name == "train/token_weight_max"]
    zeros = [v for name, v in seen if name == "train/token_weight_zero_frac"]
    assert len(maxima) == len(zeros) == 5
    assert all(v > 1.0 for v in maxima)  # mean 1 over the answer tokens, so not uniform
    assert all(0.0 < v < 1.0 for v in zeros)
    nll = [v for name, v in seen if name == "train/forget_nll"]
    assert nll[-1] > nll[0]  # it unlearns: the forget NLL rose


def test_keytoken_npo_resumes_exactly(reference, tmp_path, artifacts, monkeypatch) -> None:
    from unpact_exp.methods import token_weights

    run_dir = tmp_path / "run"

    def crash(self, *args):
        if self.trainer.global_step == 3:
            raise Crash("killed after step 3")

    with monkeypatch.context() as patch:
        patch.setattr(UnlearnModule, "on_train_batch_end", crash, raising=False)
        with pytest.raises(Crash):
            main(_cfg(run_dir, artifacts, *NPO_KEYTOKEN))
    saved = checkpoint(run_dir)["state_dict"]["objective.token_weights.raw"].clone()
    assert checkpoint(run_dir)["global_step"] == 3

    calls: list[int] = []
    original = token_weights.raw_weights

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(token_weights, "raw_weights", spy)
    main(_cfg(run_dir, artifacts, *NPO_KEYTOKEN))
    assert not calls  # restored from the checkpoint, not recomputed
    assert torch.equal(checkpoint(run_dir)["state_dict"]["objective.token_weights.raw"], saved)
    assert_same_run(run_dir, reference[0], tol=0.0)


def test_forget_weight_scales_the_forget_term(make_cfg, tiny_target) -> None:
    """``total = forget_weight * forget + reg`` (the logged forget loss is unweighted)."""
    cfg = make_cfg(
        "method=ga",
        "regularizer=gd",
        "method.token_weighting=question",
        "method.forget_weight=2.5",
        "trainer.max_steps=2",
    )
    main(cfg)
    losses = read_results(Path(cfg.paths.output_dir))["final_losses"]
    assert losses["total"] == pytest.approx(2.5 * losses["forget"] + losses["reg"], rel=1e-5)


def test_weighted_worldfacts_experiment_composes(tmp_path, artifacts) -> None:
    """The SmolLM2 grid's weighted sweep: ga+gd and npo+gd, keytoken unless overridden."""
    base = ["experiment=smollm2_worldfacts_weighted", *QUIET]
    cfg = compose_cfg([*base, "setting=npo+gd"], tmp_path, artifacts)
    assert (cfg.method.name, cfg.regularizer.name) == ("npo", "gd")
    assert cfg.method.token_weighting == "keytoken" and cfg.model.name == "smollm2_135m"
    assert cfg.method.lr == 4.0e-5  # the per-model specialisation still applies
    cfg = compose_cfg(
        [*base, "setting=ga+gd", "method.token_weighting=question"], tmp_path, artifacts
    )
    assert cfg.method.token_weighting == "question"
    validate(cfg)


@pytest.mark.parametrize(
    "strategy",
    [
        ["trainer=ddp", "trainer.accelerator=cpu", "trainer.devices=2"],
        ["trainer=fsdp2", "trainer.devices=2"],
    ],
    ids=["ddp", "fsdp2"],
)
def test_keytoken_npo_ranks_agree(strategy, tmp_path, artifacts, tiny_target) -> None:
    """Two processes: every rank computes the weights over the whole forget set (under FSDP2 with
    a sharded policy, all ranks scoring together), trains, and the ranks end with one model."""
    import os
    import subprocess

    from tests.conftest import ROOT, train_command

    run_dir = tmp_path / "run"
    cmd = train_command(tmp_path, artifacts, run_dir, *NPO_KEYTOKEN[:3], "trainer.max_steps=3")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [*cmd, *strategy], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = read_results(run_dir)
    assert results["status"] == "completed" and results["world_size"] == 2
    first, second = results["rank_weight_checksums"]
    assert first == pytest.approx(second, rel=0, abs=0)
