"""analyze.py: its JSON line is checked against an independent recomputation.

The recomputation uses plain ``transformers`` and the docs/science.md formulas written out
here, from nothing but the JSON's token ids and spans: one unbatched forward per
variant, no framework code.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from transformers import AutoModelForCausalLM

from tests.conftest import ROOT, SMALL_WORLD
from unpact_exp.models.loading import target_dir


def mean_logprob(model, prompt_ids: list[int], target_ids: list[int]) -> float:
    ids = torch.tensor([prompt_ids + target_ids])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), -1)
    n = len(prompt_ids)
    return float(sum(logp[n - 1 + k, t] for k, t in enumerate(target_ids)) / len(target_ids))


def spec_keytokens(c: list[float], alpha: float, beta: float) -> list[int]:
    pos = [i for i, v in enumerate(c) if v > 0]
    if not pos or len(pos) / len(c) < beta:
        return pos
    top = max(c[i] for i in pos)
    return [i for i in pos if c[i] / top > alpha]


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["unpact.granularity=word", "unpact.removal=delete"],
        ["unpact.target=reference", "unpact.removal=replace"],
    ],
    ids=["token-delete-generated", "word-delete", "token-replace-reference"],
)
def test_analyze_json_matches_recomputation(extra, tmp_path, artifacts, tiny_target) -> None:
    from tests.conftest import compose_cfg
    from unpact_exp.data.prepare import get_benchmark

    cfg = compose_cfg(SMALL_WORLD, tmp_path / "x", artifacts)
    item = get_benchmark(cfg.data, cfg.paths.data_dir).forget_qa[0]
    world = [o for o in SMALL_WORLD if not o.startswith("model.build")]
    cmd = [
        sys.executable,
        str(ROOT / "analyze.py"),
        *world,
        f"paths.root_dir={tmp_path}",
        f"paths.artifacts_dir={artifacts}",
        f"paths.data_dir={artifacts}/data",
        f"question={item.question}",
        f"answer={item.answer}",
        *extra,
    ]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out) == {
        "prompt",
        "prompt_token_ids",
        "units",
        "unit_token_spans",
        "target",
        "target_token_ids",
        "lp",
        "contributions",
        "keytokens",
    }
    if "unpact.target=reference" in extra:
        assert out["target"] == item.answer

    model = AutoModelForCausalLM.from_pretrained(target_dir(artifacts, "tiny", "synthetic")).eval()
    ids, target = out["prompt_token_ids"], out["target_token_ids"]
    lp = mean_logprob(model, ids, target)
    assert out["lp"] == pytest.approx(lp, abs=1e-4)
    unk = 1  # the tiny tokenizer's <unk> id, the default filler
    for (start, end), c in zip(out["unit_token_spans"], out["contributions"]):
        middle = [unk] * (end - start) if "unpact.removal=replace" in extra else []
        variant = ids[:start] + middle + ids[end:]
        assert c == pytest.approx(lp - mean_logprob(model, variant, target), abs=1e-4)
    assert out["keytokens"] == spec_keytokens(out["contributions"], 0.22, 0.24)
    if "unpact.target=reference" in extra:
        # The gold answer hinges on the entity name. (The model's own greedy answer, the
        # generated target, may hinge on the attribute word instead: with transformers 5 the
        # 2-layer target's KeyToken for this question is "birthplace".)
        names = {w.strip("?.,") for w in item.question.split()[1:] if w[0].isupper()}
        assert names & {out["units"][k].strip("?.,") for k in out["keytokens"]}
