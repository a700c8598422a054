"""Raw retain documents as a map-style dataset, tokenized when a batch fetches them.

A retain corpus can be large (WMDP-Bio's: about 61k documents, 1.9 GB) while a run draws a few
hundred retain batches from it: tokenizing every document up front into Python lists costs
minutes and gigabytes for nothing. Here item ``i`` is document ``i``, tokenized in
``__getitem__``, so only the documents the sampler draws are ever tokenized.

One example per document, its first ``max_length`` tokens (BOS included), as the WMDP RMU code
cuts its retain documents (``truncation=True, max_length=512``); the forget corpus, which
unlearning must see whole, stays chunked into every ``max_length`` piece
(:func:`~unpact_exp.training.sequences.encode_texts`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch.utils.data import Dataset

from unpact_exp.training.sequences import Example, chunk_text


class LazyTextExamples(Dataset):
    """Retain documents, each encoded as one causal-LM example when fetched.

    Args:
        tokenizer: the model's tokenizer (picklable, so ``ddp_spawn`` workers get it).
        texts: the documents (already capped by ``data.max_retain_examples``).
        max_length: tokens per example (BOS included); longer documents are cut.
    """

    def __init__(self, tokenizer: Any, texts: Sequence[str], max_length: int) -> None:
        self.tokenizer = tokenizer
        self.texts = texts
        self.max_length = max_length

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: int) -> Example:
        chunks = chunk_text(self.tokenizer, self.texts[index], self.max_length)
        ids = chunks[0]
        return Example(ids, list(ids), index, truncated=len(chunks) > 1)
