"""MUSE's VerbMem and PrivLeak at every evaluation step, beside the paper's own metrics.

:class:`MuseMetrics` is built once with the original model M0 (like
:class:`~unpact_exp.evaluation.evaluator.Evaluator`, which owns one) and then measures
each unlearned model M1. A metric is computed only when the dataset has its splits
(``verbmem/forget``; ``privleak/forget`` and ``privleak/holdout``), so WMDP runs carry neither.

Keys (M0's value under the same name with ``_original``):

- ``verbmem_forget``: ROUGE-L F1 x 100 of greedy continuations (:mod:`.verbmem`);
- ``privleak_auc``: the raw Min-K% AUC between forget and holdout texts (:mod:`.privleak`);
- ``privleak``: MUSE's relative PrivLeak, only when ``eval.retrain_model`` names a model
  retrained without the forget set; its AUC is stored as ``privleak_auc_retrain``. Without a
  retrain model there is no ``privleak`` key, so a raw AUC is never mistaken for MUSE's number.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from unpact_exp.data.schema import Benchmark
from unpact_exp.errors import UnpactConfigError
from unpact_exp.metrics.privleak import SCORES, privleak_auc, relative_privleak
from unpact_exp.metrics.verbmem import verbmem_score
from unpact_exp.unpact.config import _get, check_positive_int


@dataclass(frozen=True)
class MuseConfig:
    """The MUSE-metric keys of the ``eval`` group.

    Attributes:
        verbmem_max_new_tokens: greedy continuation length (and reference cut) for VerbMem.
        privleak_k: fraction of lowest-scoring tokens averaged by Min-K% (MUSE: 0.4).
        privleak_score: ``min_k`` (MUSE) or ``min_k_plus_plus``.
        retrain_model: folder or hub id of a model retrained without the forget set (same
            tokenizer as M0); None: report the raw AUC only.
        batch_size: texts per forward / generate call (``eval.generation_batch_size``).
        stemming: ``eval.rouge_stemming``.
    """

    verbmem_max_new_tokens: int
    privleak_k: float
    privleak_score: str
    retrain_model: str | None
    batch_size: int
    stemming: bool

    def __post_init__(self) -> None:
        check_positive_int("eval.verbmem_max_new_tokens", self.verbmem_max_new_tokens)
        k = self.privleak_k
        if isinstance(k, bool) or not isinstance(k, int | float) or not 0 < k <= 1:
            raise UnpactConfigError(
                f"eval.privleak_k={k!r} must be a number in (0, 1] (MUSE: 0.4)."
            )
        if self.privleak_score not in SCORES:
            raise UnpactConfigError(
                f"eval.privleak_score={self.privleak_score!r} is not one of {list(SCORES)}."
            )

    @classmethod
    def from_config(cls, cfg: Any) -> MuseConfig:
        """Build from the ``eval`` node; every key is required."""
        g = "eval"
        retrain = _get(cfg, g, "retrain_model")
        return cls(
            verbmem_max_new_tokens=_get(cfg, g, "verbmem_max_new_tokens"),
            privleak_k=_get(cfg, g, "privleak_k"),
            privleak_score=str(_get(cfg, g, "privleak_score")),
            retrain_model=None if retrain is None else str(retrain),
            batch_size=_get(cfg, g, "generation_batch_size"),
            stemming=bool(_get(cfg, g, "rouge_stemming")),
        )


def load_retrain_model(source: str, model_cfg: Any, device: torch.device) -> torch.nn.Module:
    """The retrain model named by ``eval.retrain_model``, in the run's dtype, on ``device``."""
    from unpact_exp.models.loading import load_model

    model = load_model(source, model_cfg.dtype, model_cfg.trust_remote_code)
    return model.to(device).eval()


class MuseMetrics:
    """VerbMem and PrivLeak of M0 (computed once) and of each M1.

    Args:
        model: the original model M0; used only inside the constructor.
        tokenizer: the tokenizer shared by M0, every M1 and the retrain model.
        benchmark: the dataset (``verbmem_forget``, ``privleak_forget``, ``privleak_holdout``).
        cfg: the MUSE keys of the ``eval`` group.
        retrain: the retrain model (used only inside the constructor), or None.
    """

    def __init__(
        self,
        model: torch.nn.Module,
        tokenizer: Any,
        benchmark: Benchmark,
        cfg: MuseConfig,
        retrain: torch.nn.Module | None = None,
    ) -> None:
        self.cfg, self.tokenizer = cfg, tokenizer
        self.verbmem = list(benchmark.verbmem_forget)
        has_privleak = bool(benchmark.privleak_forget and benchmark.privleak_holdout)
        self.forget = list(benchmark.privleak_forget) if has_privleak else []
        self.holdout = list(benchmark.privleak_holdout) if has_privleak else []
        self.retrain_auc = self._auc(retrain) if retrain is not None and has_privleak else None
        self.original = {f"{k}_original": v for k, v in self.measure(model).items()}
        if self.retrain_auc is not None:
            self.original["privleak_auc_retrain"] = self.retrain_auc

    def _auc(self, model: torch.nn.Module) -> float:
        c = self.cfg
        return privleak_auc(
            model, self.tokenizer, self.forget, self.holdout, c.privleak_k, c.privleak_score,
            c.batch_size,
        )  # fmt: skip

    def measure(self, model: torch.nn.Module) -> dict[str, float]:
        """``verbmem_forget``, ``privleak_auc`` and ``privleak`` of ``model``, where defined."""
        metrics: dict[str, float] = {}
        if self.verbmem:
            c = self.cfg
            metrics["verbmem_forget"] = verbmem_score(
                model,
                self.tokenizer,
                [item.question for item in self.verbmem],
                [item.answer for item in self.verbmem],
                c.verbmem_max_new_tokens,
                c.batch_size,
                c.stemming,
            )
        if self.forget:
            auc = self._auc(model)
            metrics["privleak_auc"] = auc
            if self.retrain_auc is not None:
                metrics["privleak"] = relative_privleak(auc, self.retrain_auc)
        return metrics

    @classmethod
    def from_config(
        cls, model: torch.nn.Module, tokenizer: Any, benchmark: Benchmark, cfg: Any
    ) -> MuseMetrics:
        """Build from a root config (``eval``; ``model`` when a retrain model is named).

        The retrain model is loaded on M0's device only when the dataset has the PrivLeak
        splits, used once for its AUC and dropped.
        """
        muse = MuseConfig.from_config(cfg.eval)
        retrain = None
        if muse.retrain_model is not None and benchmark.privleak_forget:
            from unpact_exp.unpact.inference import model_device

            retrain = load_retrain_model(muse.retrain_model, cfg.model, model_device(model))
        return cls(model, tokenizer, benchmark, muse, retrain)
