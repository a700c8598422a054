"""eval.py with M0's analysis cached: results.json numbers equal a fresh analysis's."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from unpact_exp.models.loading import load_model, load_tokenizer, resolve_source
from unpact_exp.results import read_results
from unpact_exp.run import main


def _perturbed_copy(cfg, out: Path) -> Path:
    """An 'unlearned' model: the tiny target with seeded noise on every weight."""
    source = resolve_source(cfg.model, cfg.paths.artifacts_dir, cfg.data.name)
    model = load_model(source, "float32", False)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=generator))
    model.save_pretrained(out)
    load_tokenizer(source, False).save_pretrained(out)
    return out


def test_eval_py_numbers_are_identical_with_a_reused_m0_analysis(make_cfg, tiny_target, tmp_path):
    base = make_cfg()
    unlearned = _perturbed_copy(base, tmp_path / "m1")
    cache = tmp_path / "cache"

    def evaluate(output: str, *overrides: str) -> str:
        cfg = make_cfg(
            f"unlearned={unlearned}",
            f"paths.cache_dir={cache}",
            *overrides,
            output=output,
            config_name="evaluate",
        )
        main(cfg)
        final = read_results(Path(cfg.paths.output_dir))["eval"]["final"]
        return json.dumps(final, sort_keys=True)

    fresh = evaluate("fresh", "eval.cache_original=false")
    assert not cache.exists()
    cold = evaluate("cold")
    (entry,) = (cache / "m0_analysis").glob("*.json")
    written = entry.stat().st_mtime_ns
    warm = evaluate("warm")
    assert entry.stat().st_mtime_ns == written  # read, not rewritten
    assert json.loads(fresh)["n_forgotten"] > 0  # a comparison that could fail
    assert cold == fresh and warm == fresh
