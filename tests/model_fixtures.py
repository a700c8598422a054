"""Fixtures for the unpact, evaluation, attacks and metrics tests: configs, models, tokenizer."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from omegaconf import DictConfig, OmegaConf

from unpact_exp.config.binder import bind
from unpact_exp.evaluation.config import EvalConfig
from unpact_exp.evaluation.tasks import TaskContext
from unpact_exp.models.prompt import PromptFormat
from unpact_exp.models.tiny import build_tiny_llama, build_word_tokenizer
from unpact_exp.unpact.config import UnpactConfig

CONF = Path(__file__).resolve().parents[1] / "unpact_exp" / "conf"

CORPUS = [
    "Question: Where was Alice Smith born? Answer: Alice Smith was born in Paris.",
    "Question: Who is the mother of Bob Jones? Answer: Bob Jones's mother is Carol White.",
    "Question: What does Dan Brown do for work? Answer: He is a baker in Rome.",
    "Question: Which city is the capital of France? Answer: The capital of France is Paris.",
    "Focus on to answer. Pay attention to. Key words: A B C D",
    "The quick brown fox jumps over the lazy dog near the river bank today.",
]


@pytest.fixture(scope="package", autouse=True)
def single_torch_thread():
    """Run these tiny models on one thread, restoring the setting afterwards.

    On a 2-core machine shared with other processes, two OpenMP threads per tiny
    matmul oversubscribe the cores and make the suite ~100x slower; one is fastest.
    """
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


HANDMADE = {"judge": "rouge_recall", "labels": {"asks": 1}}
"""``eval`` settings for benchmarks whose golds are a random tiny model's own answers to the
plain prompt: one ask labels them and ROUGE recall judges them (a random answer is no sentence
for the strict judge). The labels and the judge have tests of their own."""


@pytest.fixture(scope="session")
def cfg() -> DictConfig:
    """The real ``unpact``, ``focus_on_key``, ``probab``, ``eval``, ``attacks`` and ``metrics``
    groups from ``conf/`` (with the ``model.max_length`` the attacks interpolate)."""
    groups = ("unpact", "focus_on_key", "probab", "eval", "attacks", "metrics")
    # probab.seed interpolates the run's root ``seed``, which train.yaml sets.
    choices = {"focus_on_key": "paper"}  # the defaults list's choices (train.yaml)
    nodes = {g: OmegaConf.load(CONF / g / f"{choices.get(g, 'default')}.yaml") for g in groups}
    return OmegaConf.create({"seed": 1234, "model": {"max_length": 128}, **nodes})


def eval_settings(cfg: DictConfig, **changes: object) -> EvalConfig:
    """The ``eval`` group of ``cfg`` bound, with ``changes`` merged in."""
    return bind(EvalConfig, OmegaConf.merge(cfg, {"eval": changes}).eval, "eval")


def unpact_settings(cfg: DictConfig, **changes: object) -> UnpactConfig:
    """The ``unpact`` group of ``cfg`` bound, with ``changes`` merged in."""
    return bind(UnpactConfig, OmegaConf.merge(cfg, {"unpact": changes}).unpact, "unpact")


def task_context(
    tokenizer, prompt_format: PromptFormat, cfg: DictConfig, icl=(), **eval_changes: object
) -> TaskContext:
    """A task context over the real settings (``eval_changes`` merged into ``eval``)."""
    return TaskContext(
        tokenizer,
        prompt_format,
        tuple(icl),
        unpact_settings(cfg),
        eval_settings(cfg, **eval_changes),
    )


def make_evaluator(model, tokenizer, prompt_format, benchmark, root: DictConfig, shard=None):
    """The Evaluator a run with config ``root`` builds (its attacks, metrics and settings)."""
    from unpact_exp.attacks import registry as attacks
    from unpact_exp.evaluation.evaluator import Evaluator
    from unpact_exp.metrics import registry as metrics

    plan = attacks.build_plan(root)
    return Evaluator(
        model,
        tokenizer,
        prompt_format,
        benchmark,
        bind(UnpactConfig, root.unpact, "unpact"),
        bind(EvalConfig, root.eval, "eval"),
        attacks=plan,
        metrics=metrics.build_plan(root),
        focus_templates=attacks.build("focus_on_key", root).templates,
        seed=int(root.seed),
        shard=shard,
    )


@pytest.fixture(scope="session")
def tokenizer():
    return build_word_tokenizer(CORPUS)


@pytest.fixture(scope="session")
def prompt_format() -> PromptFormat:
    return PromptFormat(
        template="Question: {question}\nAnswer:",
        use_chat_template=False,
        system_prompt=None,
        icl_template="Question: {question}\nAnswer: {answer}\n\n",
        answer_prefix=" ",
        chat_template_kwargs={},
    )


def make_tiny(tokenizer, seed: int) -> torch.nn.Module:
    """A random 2-layer, 32-wide Llama in eval mode."""
    model = build_tiny_llama(
        tokenizer,
        hidden_size=32,
        num_layers=2,
        num_heads=2,
        intermediate_size=64,
        max_position_embeddings=256,
        seed=seed,
    )
    return model.eval()


@pytest.fixture(scope="session")
def tiny_factory(tokenizer):
    """``tiny_factory(seed)`` builds a fresh random tiny Llama."""
    return lambda seed: make_tiny(tokenizer, seed)


@pytest.fixture(scope="session")
def tiny_llama(tokenizer) -> torch.nn.Module:
    return make_tiny(tokenizer, seed=0)


class KeyTokenModel(torch.nn.Module):
    """A causal LM whose prediction depends only on whether ``key_id`` is in the prefix.

    At every position the logit of ``answer_id`` is ``strength`` if ``key_id`` occurred
    at or before that position (among attended tokens) and 0 otherwise; all other
    logits are 0. So removing the key unit lowers log p(answer) by a known amount and
    removing any other unit changes nothing: C_key > 0, every other C_i = 0 exactly.
    """

    def __init__(self, key_id: int, answer_id: int, vocab_size: int, strength: float) -> None:
        super().__init__()
        self.key_id, self.answer_id, self.vocab_size = key_id, answer_id, vocab_size
        self.strength = strength
        self.anchor = torch.nn.Parameter(torch.zeros(()))  # gives the module a device

    def forward(self, input_ids, attention_mask=None, position_ids=None):
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        seen = ((input_ids == self.key_id) & attention_mask.bool()).long().cumsum(-1) > 0
        logits = torch.zeros(*input_ids.shape, self.vocab_size)
        logits[..., self.answer_id] = seen.float() * self.strength
        return SimpleNamespace(logits=logits + self.anchor)


@pytest.fixture
def key_model_factory(tokenizer):
    """Build a :class:`KeyTokenModel` from words of the tokenizer's vocabulary."""

    def build(key: str, answer: str, strength: float = 8.0) -> KeyTokenModel:
        vocab = tokenizer.get_vocab()
        return KeyTokenModel(vocab[key], vocab[answer], len(tokenizer), strength)

    return build
