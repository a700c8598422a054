"""README's "Adding a method" example, run as written: a toy method in one file + one YAML.

The method is registered here, its YAML lives in a temporary config folder added to
Hydra's search path, and nothing else in the repository is touched: it composes,
trains two steps on the tiny target, and is refused with a regularizer it declares
it does not accept.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from torch import Tensor

from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods.base import Batch, MethodContext, Objective
from unpact_exp.methods.ga import ga_loss
from unpact_exp.methods.registry import register, unregister
from unpact_exp.results import read_results
from unpact_exp.run import main

TOY_YAML = """\
# A toy: gradient ascent with its loss scaled by `scale`.
name: scaled_ga
scale: 0.5
lr: 1.0e-3
weight_decay: 0.0
batch_size: 4
forget_nll_stop: null
"""


@pytest.fixture
def scaled_ga(tmp_path: Path):
    @register("scaled_ga")
    class ScaledGA(Objective):
        """Gradient ascent with the loss multiplied by ``scale``."""

        accepts_regularizer = False  # declared: refuses gd/kl

        def __init__(self, scale: float) -> None:
            super().__init__()
            self.scale = scale

        def loss(
            self, ctx: MethodContext, forget: Batch, retain: Batch | None
        ) -> tuple[Tensor, dict[str, Tensor]]:
            loss = ga_loss(ctx.forward_batch(ctx.policy, forget).logits, forget["labels"])
            return self.scale * loss, {"forget_nll": -loss.detach()}

    conf = tmp_path / "toy_conf"
    (conf / "method").mkdir(parents=True)
    (conf / "method" / "scaled_ga.yaml").write_text(TOY_YAML)
    yield f"hydra.searchpath=[file://{conf}]"
    unregister("scaled_ga")


def test_toy_method_composes_and_trains_two_steps(scaled_ga, make_cfg, tiny_target) -> None:
    cfg = make_cfg(scaled_ga, "method=scaled_ga", "trainer.max_steps=2")
    assert cfg.method.scale == 0.5
    main(cfg)
    results = read_results(cfg.paths.output_dir)
    assert results["status"] == "completed" and results["steps"] == 2
    assert results["method"] == "scaled_ga" and results["setting"] == "scaled_ga"
    assert (Path(cfg.paths.output_dir) / "unlearned" / "config.json").is_file()


def test_toy_method_refuses_the_regularizer_it_declines(scaled_ga, make_cfg) -> None:
    cfg = make_cfg(scaled_ga, "method=scaled_ga", "regularizer=gd")
    with pytest.raises(UnpactConfigError, match=r"method=scaled_ga .*regularizer=gd"):
        main(cfg)


def test_toy_method_key_typo_is_named(scaled_ga, make_cfg) -> None:
    cfg = make_cfg(scaled_ga, "method=scaled_ga", "+method.scal=2")
    with pytest.raises(UnpactConfigError, match=r"method\.scal .*Did you mean 'scale'"):
        main(cfg)
