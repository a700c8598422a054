"""Typed, validated views of the ``unpact``, ``focus_on_key``, ``probab`` and ``eval`` groups.

The YAML files in ``conf/`` are the only place defaults live (STYLE point 3). Each
dataclass here is built by ``from_config`` from an OmegaConf node and reads *every*
key, so a key missing from the YAML is an error rather than a silently invented
default. Validation happens in ``__post_init__`` so a hand-built instance (tests) is
checked the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from omegaconf import ListConfig

from unpact_exp.errors import UnpactConfigError

GRANULARITIES = ("token", "word")
REMOVALS = ("delete", "replace")
SCOPES = ("question",)
TARGETS = ("generated", "reference")
NORMALIZATIONS = ("max", "sum")
KEYTOKENS_FROM = ("original", "unlearned")
PHASE_BATCH_SIZES = (
    "batch_size",
    "generation_batch_size",
    "sampling_batch_size",
    "mc_batch_size",
    "scoring_batch_size",
)


def _get(cfg: Any, group: str, key: str) -> Any:
    """Read ``cfg[key]``, raising a message that names ``group.key`` when it is missing."""
    if key not in cfg:
        raise UnpactConfigError(
            f"config key {group}.{key} is missing; add it (see conf/{group}/default.yaml)."
        )
    return cfg[key]


def _number(cfg: Any, group: str, key: str) -> float:
    """``cfg[key]`` as a float, or an error naming ``group.key`` (``unpact.alpha=abc``)."""
    value = _get(cfg, group, key)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise UnpactConfigError(f"{group}.{key}={value!r} is not valid; it must be a number.")
    return float(value)


def _strings(cfg: Any, group: str, key: str) -> tuple[str, ...]:
    """``cfg[key]`` as a tuple of strings; a lone string (``eval.stop_strings=abc``) is refused."""
    value = _get(cfg, group, key)
    if isinstance(value, str) or not isinstance(value, Sequence | ListConfig):
        raise UnpactConfigError(
            f"{group}.{key}={value!r} is not valid; it must be a list (e.g. {group}.{key}=[a,b])."
        )
    return tuple(str(item) for item in value)


def check_choice(name: str, value: Any, choices: Sequence[str]) -> None:
    """Raise when ``value`` is not one of ``choices``, naming both."""
    if value not in choices:
        raise UnpactConfigError(f"{name}={value!r} is not valid; choose one of {list(choices)}.")


def check_unit_interval(name: str, value: float) -> None:
    """Raise unless ``0 < value <= 1`` (the range docs/science.md §3 allows for alpha and beta)."""
    if not 0.0 < float(value) <= 1.0:
        raise UnpactConfigError(f"{name}={value!r} is out of range; it must lie in (0, 1].")


def check_positive_int(name: str, value: Any) -> None:
    """Raise unless ``value`` is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UnpactConfigError(f"{name}={value!r} is not valid; it must be an integer >= 1.")


def _optional_cap(name: str, value: Any) -> int | None:
    """A cap on evaluated items: null or >= 1 (0 would evaluate nothing: every rate empty)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UnpactConfigError(
            f"{name}={value!r} is not valid; use null (no cap) or an integer >= 1 "
            "(0 would evaluate no item and leave every rate empty)."
        )
    return value


@dataclass(frozen=True)
class UnpactConfig:
    """The ``unpact`` group: how prompt-token contributions and KeyTokens are computed.

    Attributes:
        granularity: ``token`` (one unit per question token) or ``word`` (one unit per
            whitespace-delimited word, the span of tokens covering it). docs/science.md §2.
        removal: ``delete`` drops the unit's tokens; ``replace`` substitutes ``filler``.
        filler: token text used by ``replace``; ``None`` means the tokenizer's unk (else pad).
        scope: only ``question`` is supported: the template and ICL examples are never perturbed.
        target: ``generated`` (the model's greedy answer, as the paper) or ``reference``
            (the gold answer). For multiple-choice items the target is always a letter.
        alpha: normalised-contribution threshold for KeyTokens, in (0, 1]. docs/science.md §3.
        beta: if the positive fraction |P|/n is below beta, all of P are KeyTokens; (0, 1].
        normalize: ``max`` or ``sum``: the denominator of N(C_i) over P.
        ignore_eps: a prompt whose max |C_i| is below this is "ignored" (docs/science.md §5).
        batch_size: prompt variants scored per forward pass.
    """

    granularity: str
    removal: str
    filler: str | None
    scope: str
    target: str
    alpha: float
    beta: float
    normalize: str
    ignore_eps: float
    batch_size: int

    def __post_init__(self) -> None:
        check_choice("unpact.granularity", self.granularity, GRANULARITIES)
        check_choice("unpact.removal", self.removal, REMOVALS)
        check_choice("unpact.scope", self.scope, SCOPES)
        check_choice("unpact.target", self.target, TARGETS)
        check_choice("unpact.normalize", self.normalize, NORMALIZATIONS)
        check_unit_interval("unpact.alpha", self.alpha)
        check_unit_interval("unpact.beta", self.beta)
        check_positive_int("unpact.batch_size", self.batch_size)
        if float(self.ignore_eps) < 0:
            raise UnpactConfigError(
                f"unpact.ignore_eps={self.ignore_eps!r} is negative; it must be >= 0."
            )

    @classmethod
    def from_config(cls, cfg: Any) -> UnpactConfig:
        """Build from the ``unpact`` node; every key is required."""
        g = "unpact"
        filler = _get(cfg, g, "filler")
        return cls(
            granularity=_get(cfg, g, "granularity"),
            removal=_get(cfg, g, "removal"),
            filler=None if filler is None else str(filler),
            scope=_get(cfg, g, "scope"),
            target=_get(cfg, g, "target"),
            alpha=_number(cfg, g, "alpha"),
            beta=_number(cfg, g, "beta"),
            normalize=_get(cfg, g, "normalize"),
            ignore_eps=_number(cfg, g, "ignore_eps"),
            batch_size=_get(cfg, g, "batch_size"),
        )


@dataclass(frozen=True)
class FocusOnKeyConfig:
    """The ``focus_on_key`` group (docs/science.md §5).

    Attributes:
        keytokens_from: ``original`` (M0's KeyTokens, as the paper) or ``unlearned`` (M1's).
        templates: question rewrites, each with ``{keys}`` and ``{question}`` placeholders;
            one greedy answer per template, so their number is also PROBAB's sample budget.
    """

    keytokens_from: str
    templates: tuple[str, ...]

    def __post_init__(self) -> None:
        check_choice("focus_on_key.keytokens_from", self.keytokens_from, KEYTOKENS_FROM)
        if not self.templates:
            raise UnpactConfigError(
                "focus_on_key.templates is empty; give at least one template such as "
                "'Focus on {keys} to answer. {question}'."
            )
        for template in self.templates:
            try:
                template.format(keys="", question="")
            except (KeyError, IndexError, ValueError) as err:
                raise UnpactConfigError(
                    f"focus_on_key.templates entry {template!r} cannot be rendered ({err!r}); "
                    "the only placeholders allowed are {keys} and {question}."
                ) from err
            if "{keys}" not in template or "{question}" not in template:
                raise UnpactConfigError(
                    f"focus_on_key.templates entry {template!r} must contain both "
                    "'{keys}' and '{question}'."
                )

    @classmethod
    def from_config(cls, cfg: Any) -> FocusOnKeyConfig:
        """Build from the ``focus_on_key`` node; every key is required."""
        g = "focus_on_key"
        return cls(
            keytokens_from=_get(cfg, g, "keytokens_from"),
            templates=_strings(cfg, g, "templates"),
        )


@dataclass(frozen=True)
class ProbabConfig:
    """The ``probab`` group: the budget-matched sampling baseline (docs/science.md §5).

    Attributes:
        temperature: softmax temperature (> 0).
        top_p: nucleus mass in (0, 1]; 1.0 is plain multinomial sampling.
        seed: the sampling seed, reset on every call so results are reproducible.
    """

    temperature: float
    top_p: float
    seed: int

    def __post_init__(self) -> None:
        if not float(self.temperature) > 0:
            raise UnpactConfigError(
                f"probab.temperature={self.temperature!r} is not valid; it must be > 0."
            )
        check_unit_interval("probab.top_p", self.top_p)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise UnpactConfigError(f"probab.seed={self.seed!r} is not valid; use an integer.")

    @classmethod
    def from_config(cls, cfg: Any) -> ProbabConfig:
        """Build from the ``probab`` node; every key is required."""
        g = "probab"
        return cls(
            temperature=_number(cfg, g, "temperature"),
            top_p=_number(cfg, g, "top_p"),
            seed=_get(cfg, g, "seed"),
        )


@dataclass(frozen=True)
class EvalConfig:
    """The ``eval`` group: correctness and evaluation sizes (docs/science.md §4).

    Attributes:
        max_new_tokens: greedy answer length limit.
        stop_strings: answers are cut at the first of these.
        correct_threshold: ROUGE-L recall of the gold answer needed to be correct, in (0, 1].
        batch_size: the default batch size of every phase below (kept for overrides).
        generation_batch_size: prompts per greedy ``generate`` call (answers, FocusOnKey,
            attacks).
        sampling_batch_size: prompts per PROBAB sampling call.
        mc_batch_size: multiple-choice items per letter-scoring forward pass.
        scoring_batch_size: UNPACT prompt variants per forward pass (default
            ``unpact.batch_size``).
        progress: ``auto`` (a bar per evaluation phase on an interactive terminal only),
            ``true`` or ``false`` (see :mod:`unpact_exp.unpact.progress`).
        max_forget_questions: evaluate only the first N forget items (``None``: all).
        max_utility_items: evaluate only the first N of each utility / retain list.
        rate_items: which item kinds feed the pooled rates: auto | qa | mc | both
            (see :func:`unpact_exp.evaluation.evaluator.rate_kinds`).
        rouge_stemming: Porter-stem both texts before ROUGE-L (false: as MUSE; true: as
            TOFU/open-unlearning's ``use_stemmer=True``).
    """

    max_new_tokens: int
    stop_strings: tuple[str, ...]
    correct_threshold: float
    batch_size: int
    generation_batch_size: int
    sampling_batch_size: int
    mc_batch_size: int
    scoring_batch_size: int
    progress: str | bool
    max_forget_questions: int | None
    max_utility_items: int | None
    rate_items: str
    rouge_stemming: bool

    def __post_init__(self) -> None:
        check_positive_int("eval.max_new_tokens", self.max_new_tokens)
        if not isinstance(self.rouge_stemming, bool):
            raise UnpactConfigError(
                f"eval.rouge_stemming={self.rouge_stemming!r} is not valid; use true or false."
            )
        for phase in PHASE_BATCH_SIZES:
            check_positive_int(f"eval.{phase}", getattr(self, phase))
        if not (isinstance(self.progress, bool) or self.progress == "auto"):
            raise UnpactConfigError(
                f"eval.progress={self.progress!r} is not valid; choose one of auto, true, false."
            )
        check_unit_interval("eval.correct_threshold", self.correct_threshold)
        _optional_cap("eval.max_forget_questions", self.max_forget_questions)
        _optional_cap("eval.max_utility_items", self.max_utility_items)
        if any(not s for s in self.stop_strings):
            raise UnpactConfigError(
                f"eval.stop_strings={list(self.stop_strings)!r} contains an empty string, "
                "which would cut every answer to nothing; remove it."
            )

    @classmethod
    def from_config(cls, cfg: Any) -> EvalConfig:
        """Build from the ``eval`` node; every key is required."""
        g = "eval"
        return cls(
            max_new_tokens=_get(cfg, g, "max_new_tokens"),
            stop_strings=_strings(cfg, g, "stop_strings"),
            correct_threshold=_number(cfg, g, "correct_threshold"),
            batch_size=_get(cfg, g, "batch_size"),
            generation_batch_size=_get(cfg, g, "generation_batch_size"),
            sampling_batch_size=_get(cfg, g, "sampling_batch_size"),
            mc_batch_size=_get(cfg, g, "mc_batch_size"),
            scoring_batch_size=_get(cfg, g, "scoring_batch_size"),
            progress=_get(cfg, g, "progress"),
            max_forget_questions=_get(cfg, g, "max_forget_questions"),
            max_utility_items=_get(cfg, g, "max_utility_items"),
            rate_items=str(_get(cfg, g, "rate_items")),
            rouge_stemming=_get(cfg, g, "rouge_stemming"),
        )


def take_first(items: Sequence[Any], cap: int | None) -> list[Any]:
    """The first ``cap`` items (all when ``cap`` is None): deterministic evaluation subsets."""
    return list(items) if cap is None else list(items[:cap])
