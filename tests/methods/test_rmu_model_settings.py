"""Per-model RMU settings for the paper's real targets compose and override the method default.

Depths are those of the models' ``config.json`` (``num_hidden_layers``): Llama-2-7B (the MUSE
targets) 32, Llama-3.1-8B-Instruct 32, Qwen3-14B 40. The sources of each value are comments in
``conf/method_model/rmu_<model>.yaml``.
"""

from __future__ import annotations

import pytest

# model -> (depth, layer, trainable layers, steering coefficient, retain weight, lr)
EXPECTED = {
    "muse_news_target": (32, 7, [5, 6, 7], 6.5, 1200.0, 5e-5),
    "muse_books_target": (32, 7, [5, 6, 7], 6.5, 1200.0, 5e-5),
    "llama31_8b_instruct": (32, 7, [5, 6, 7], 6.5, 1200.0, 5e-5),
    "qwen3_14b": (40, 9, [7, 8, 9], 6.5, 1200.0, 5e-5),
}


@pytest.mark.parametrize("model", sorted(EXPECTED))
def test_rmu_settings_of_the_real_targets(model: str, make_cfg) -> None:
    depth, layer, trainable, coeff, retain_weight, lr = EXPECTED[model]
    cfg = make_cfg("method=rmu", "regularizer=none", f"model={model}")
    method = cfg.method
    assert (method.layer, list(method.trainable_layers)) == (layer, trainable)
    assert (method.steering_coeff, method.retain_weight, method.lr) == (coeff, retain_weight, lr)
    assert max(method.trainable_layers) <= method.layer < depth
    assert method.batch_size == 4 and method.name == "rmu"  # the rest is the method's default


def test_qwen3_layer_sits_at_wmdps_relative_depth(make_cfg) -> None:
    """WMDP steers layer 7 of Zephyr-7B's 32; Qwen3-14B's 40 layers put that depth at 9."""
    cfg = make_cfg("method=rmu", "regularizer=none", "model=qwen3_14b")
    assert cfg.method.layer == round(40 * 7 / 32)


def test_other_methods_ignore_the_rmu_settings(make_cfg) -> None:
    cfg = make_cfg("method=npo", "model=qwen3_14b")
    assert "steering_coeff" not in cfg.method and "layer" not in cfg.method


def test_a_layer_past_the_model_is_refused_before_the_optimizer(
    make_cfg, tiny_target, monkeypatch
) -> None:
    """RMU's default layer 7 on the 2-layer tiny target: one message naming the layers, raised
    when the model is loaded (it used to surface as AdamW's "empty parameter list")."""
    import torch

    from unpact_exp.errors import UnpactConfigError
    from unpact_exp.run import main

    built = []
    original = torch.optim.AdamW.__init__

    def spy(self, *args, **kwargs):
        built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(torch.optim.AdamW, "__init__", spy)
    cfg = make_cfg("method=rmu", "method.layer=7", "method.trainable_layers=[5,6,7]")
    with pytest.raises(UnpactConfigError) as err:
        main(cfg)
    message = str(err.value)
    assert "[7, 5, 6, 7]" in message and "2 decoder layers" in message
    assert "valid: 0..1" in message and "rmu_<model>.yaml" in message
    assert not built  # refused before any optimizer existed
