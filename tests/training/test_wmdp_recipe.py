"""data.padding_side=left and data.forget_chunking=first reproduce the WMDP RMU recipe.

WMDP's ``rmu/unlearn.py`` + ``rmu/utils.py`` (centerforaisafety/wmdp), written out here::

    tokenizer.pad_token_id = tokenizer.eos_token_id
    tokenizer.padding_side = "left"
    inputs = tokenizer(batch, return_tensors="pt", padding=True, truncation=True, max_length=L)
    activations = <output of layer l in model(**inputs)>
    forget_loss = F.mse_loss(activations, steering_coeff * control_vec)

with ``L`` = 512 for bio and 768 for cyber forget documents. On the same texts the framework's
batch is the same tensor and RMU's ``all_positions`` reduction the same number; the default
right padding (and every chunk) gives another number.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from unpact_exp.errors import UnpactConfigError
from unpact_exp.methods.rmu import decoder_layers, make_control_vector, rmu_loss, rmu_mask
from unpact_exp.models.tiny import build_tiny_llama, build_word_tokenizer
from unpact_exp.training.sequences import (
    PadCollator,
    check_text_encoding,
    chunk_text,
    encode_texts,
    pad_token_for,
)

DOCS = [
    "The virus binds the receptor and enters the cell within minutes of exposure to it",
    "A short note",
    "Culture the sample at body temperature for two days then count the colonies again",
]
L = 8


@pytest.fixture(scope="module")
def tok():
    return build_word_tokenizer(DOCS)


@pytest.fixture(scope="module")
def model(tok):
    torch.manual_seed(0)
    llama = build_tiny_llama(tok, 32, 2, 2, 64, 64, seed=0)
    return llama.eval()


def wmdp_batch(tok, texts, max_length):
    """WMDP's tokenization, literally (on a copy of the tokenizer)."""
    import copy

    theirs = copy.deepcopy(tok)
    theirs.pad_token_id = theirs.eos_token_id
    theirs.padding_side = "left"
    return theirs(texts, return_tensors="pt", padding=True, truncation=True, max_length=max_length)


def ours(tok, texts, max_length, side, chunking):
    examples = encode_texts(tok, texts, max_length, chunking)
    return PadCollator(pad_token_for(tok, side), side)(examples)


def layer_output(model, batch, layer: int) -> torch.Tensor:
    captured = []
    hook = decoder_layers(model)[layer].register_forward_hook(
        lambda _m, _i, out: captured.append(out[0] if isinstance(out, tuple) else out)
    )
    with torch.no_grad():
        model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
    hook.remove()
    return captured[0].float()


def test_left_padding_and_first_chunks_are_wmdps_batch(tok) -> None:
    """Same ids (EOS in the left padding), same attention mask, first L tokens with BOS."""
    theirs = wmdp_batch(tok, DOCS, L)
    batch = ours(tok, DOCS, L, "left", "first")
    assert torch.equal(batch["input_ids"], theirs["input_ids"])
    assert torch.equal(batch["attention_mask"], theirs["attention_mask"])
    assert batch["input_ids"][1, 0].item() == tok.eos_token_id  # "A short note" is left-padded
    # Every token is a target (raw text), padding is not.
    assert torch.equal(batch["labels"] != -100, theirs["attention_mask"].bool())


def test_first_chunking_keeps_each_documents_first_chunk(tok) -> None:
    """The default cuts the first document (16 words + BOS) into chunks of <= 8 tokens;
    ``first`` keeps only the first chunk of every document."""
    first, every = encode_texts(tok, DOCS, L, "first"), encode_texts(tok, DOCS, L, "all")
    assert [e.input_ids for e in first] == [chunk_text(tok, d, L)[0] for d in DOCS]
    assert len(every) == sum(len(chunk_text(tok, d, L)) for d in DOCS) > len(first) == 3


def test_rmu_all_positions_equals_wmdp_on_the_same_texts(tok, model) -> None:
    """The forget term of RMU (all_positions) on our left-padded first chunks is WMDP's
    F.mse_loss over their batch; right padding with the pad token gives another number."""
    u = make_control_vector(32, 0, torch.float32)
    theirs = wmdp_batch(tok, DOCS, L)
    wmdp_value = F.mse_loss(layer_output(model, theirs, 1), (6.5 * u).expand(3, L, 32))

    def framework(side: str, chunking: str) -> torch.Tensor:
        batch = ours(tok, DOCS, L, side, chunking)
        act = layer_output(model, batch, 1)
        mask = rmu_mask(batch, "all_positions")
        _, forget, _ = rmu_loss(act, act, act, u, 6.5, 0.0, mask, mask, "all_positions")
        return forget

    torch.testing.assert_close(framework("left", "first"), wmdp_value)
    right = framework("right", "first")
    assert abs(float(right) - float(wmdp_value)) > 1e-4


def test_bad_encoding_values_name_the_key() -> None:
    with pytest.raises(UnpactConfigError, match="data.padding_side='middle'"):
        check_text_encoding("middle", "all", None)
    with pytest.raises(UnpactConfigError, match="data.forget_chunking='some'"):
        check_text_encoding("right", "some", None)
    with pytest.raises(UnpactConfigError, match="data.forget_max_length=1"):
        check_text_encoding("left", "first", 1)
    check_text_encoding("left", "first", 768)


def test_the_stage_trains_rmu_with_the_wmdp_recipe(make_cfg, tiny_target) -> None:
    """data.padding_side=left data.forget_chunking=first reach the training batches."""
    from unpact_exp.data.prepare import get_benchmark
    from unpact_exp.models.loading import load_tokenizer, target_dir
    from unpact_exp.results import read_results
    from unpact_exp.run import main

    cfg = make_cfg(
        "method=rmu",
        "data.train_on=text",
        "data.padding_side=left",
        "data.forget_chunking=first",
        "data.forget_max_length=16",
        "trainer.max_steps=2",
    )
    main(cfg)
    results = read_results(cfg.paths.output_dir)
    assert results["status"] == "completed"
    bench = get_benchmark(cfg.data, cfg.paths.data_dir)
    assert results["n_forget_examples"] == len(bench.forget_text)  # one chunk per document
    every = encode_texts(
        load_tokenizer(target_dir(cfg.paths.artifacts_dir, "tiny", "synthetic"), False),
        bench.forget_text,
        16,
        "all",
    )
    assert len(every) > len(bench.forget_text)
    bad = make_cfg("method=rmu", "data.padding_side=middle")
    with pytest.raises(UnpactConfigError, match="data.padding_side='middle'"):
        main(bad)
