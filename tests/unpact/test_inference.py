"""Analysis never changes a model's train/eval flags or builds an autograd graph."""

import torch

from unpact_exp.unpact.inference import analysis_mode


def test_flags_restored_per_submodule():
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    model.train()
    model[1].eval()  # a deliberately frozen part
    with analysis_mode(model) as m:
        assert not any(x.training for x in m.modules())
        assert not torch.is_grad_enabled()
        out = m(torch.ones(1, 2))
    assert not out.requires_grad
    assert model.training and model[0].training and not model[1].training
    assert torch.is_grad_enabled()


def test_flags_restored_on_error():
    model = torch.nn.Linear(2, 2).train()
    try:
        with analysis_mode(model):
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert model.training
