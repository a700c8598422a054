"""lm-eval's ``simple_evaluate`` and the framework's MC path agree on real tokenizer families.

SentencePiece (Llama-2, fast and slow) and byte-level BPE (with and without BOS), each with a
300-piece vocabulary, so " A" and the choices split into several tokens: the framework must
score what lm-eval scores (the context tokenized alone, the continuation as the rest of the
joint tokenization, its log-probabilities summed, BOS as the tokenizer adds it).
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
import torch

from unpact_exp.data.schema import MCItem
from unpact_exp.evaluation.multiple_choice import mc_predictions
from unpact_exp.metrics.lm_eval import lm_eval_correct
from unpact_exp.models.tiny import build_tiny_llama

from .prompts import plain_format

ITEMS = [
    MCItem("Who is Alice Smith?", ("a river", "the capital", "a city", "a name"), 0, "biology"),
    MCItem("Where was Bob born? ", ("Paris", "France 12", "Oslo", "the mountain"), 0, "biology"),
    MCItem("Which city is the capital of france?", ("paris", "rome", "who", "where"), 0, "biology"),
    MCItem("What is 12 plus 7?", ("19", "20", "7", "12"), 0, "biology"),
]


@pytest.mark.parametrize("seed", [0, 1])
def test_lm_eval_and_framework_agree_item_by_item(family, tmp_path, seed):
    torch.set_num_threads(1)
    model = build_tiny_llama(family, 32, 2, 2, 64, 512, seed=seed).eval()
    fmt = plain_format()
    predicted = mc_predictions(model, family, fmt, ITEMS, 4)
    # Gold = the framework's letter on even items, another on odd ones: accuracy 2/4.
    items = [
        replace(item, answer=p if k % 2 == 0 else (p + 1) % 4)
        for k, (item, p) in enumerate(zip(ITEMS, predicted))
    ]
    rows = [dict(question=i.question, choices=list(i.choices), answer=i.answer) for i in items]
    data = tmp_path / "bio.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    theirs = lm_eval_correct(model, family, ["wmdp_bio"], {"wmdp_bio": str(data)}, None, 4)
    assert theirs == {"wmdp_bio": [True, False, True, False]}
