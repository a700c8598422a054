"""The tiny target: a word-level tokenizer and a small Llama, built in-process.

A word-level vocabulary over the synthetic corpus keeps the model tiny (a few
hundred thousand parameters) while every entity name is a single token, which
makes token-level UNPACT results easy to read and to check by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SPECIAL_TOKENS = {"pad": "<pad>", "unk": "<unk>", "bos": "<s>", "eos": "</s>"}


def build_word_tokenizer(texts: Iterable[str]) -> Any:
    """Build a word-level HF tokenizer whose vocabulary is every word in ``texts``.

    Words are split on whitespace and punctuation; BOS is prepended to every encoded
    text (as Llama does), so ``tokenizer(text)`` and generation agree.

    Returns:
        A ``transformers.PreTrainedTokenizerFast`` that round-trips through
        ``save_pretrained`` / ``AutoTokenizer.from_pretrained``.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.WordLevel(unk_token=SPECIAL_TOKENS["unk"]))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##", cleanup=True)
    specials = [SPECIAL_TOKENS[k] for k in ("pad", "unk", "bos", "eos")]
    trainer = trainers.WordLevelTrainer(special_tokens=specials, show_progress=False)  # no bar
    tok.train_from_iterator(list(texts), trainer)
    bos = SPECIAL_TOKENS["bos"]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A $B", special_tokens=[(bos, tok.token_to_id(bos))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok,
        pad_token=SPECIAL_TOKENS["pad"],
        unk_token=SPECIAL_TOKENS["unk"],
        bos_token=bos,
        eos_token=SPECIAL_TOKENS["eos"],
        padding_side="left",
    )


def build_tiny_llama(
    tokenizer: Any,
    hidden_size: int,
    num_layers: int,
    num_heads: int,
    intermediate_size: int,
    max_position_embeddings: int,
    seed: int,
) -> Any:
    """Build a randomly initialised ``LlamaForCausalLM`` sized for CPU experiments.

    Args:
        tokenizer: its vocabulary and special token ids are copied into the config.
        hidden_size: model width.
        num_layers: number of decoder layers.
        num_heads: attention heads (``hidden_size`` must be divisible by it).
        intermediate_size: MLP width.
        max_position_embeddings: the context length.
        seed: torch seed for the initialisation, so a target is reproducible.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=intermediate_size,
        num_hidden_layers=num_layers,
        num_attention_heads=num_heads,
        num_key_value_heads=num_heads,
        max_position_embeddings=max_position_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model
