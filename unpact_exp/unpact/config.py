"""The ``unpact`` group: how prompt-token contributions and KeyTokens are computed.

Built once per run by the binder (:mod:`unpact_exp.config.binder`) from ``conf/unpact``,
then handed as a typed object to everything that computes contributions or KeyTokens: the
evaluation, the token-weighted losses (a runtime argument of the method), the threshold
grid and ``analyze.py``. No code reads ``cfg.unpact`` after that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from unpact_exp.config import checks

Granularity = Literal["token", "word"]
Removal = Literal["delete", "replace"]
Target = Literal["generated", "reference"]
Normalization = Literal["max", "sum"]


@dataclass(frozen=True)
class UnpactConfig:
    """The ``unpact`` group (docs/science.md §2-3).

    Attributes:
        granularity: ``token`` (one unit per question token) or ``word`` (one unit per
            whitespace-delimited word, the span of tokens covering it).
        removal: ``delete`` drops the unit's tokens; ``replace`` substitutes ``filler``.
        filler: token text used by ``replace``; ``None`` means the tokenizer's unk (else pad).
        scope: only ``question`` is supported: the template and ICL examples are never perturbed.
        target: ``generated`` (the model's greedy answer, as the paper) or ``reference``
            (the gold answer). For multiple-choice items the target is always a letter.
        alpha: normalised-contribution threshold for KeyTokens, in (0, 1].
        beta: if the positive fraction |P|/n is below beta, all of P are KeyTokens; (0, 1].
        normalize: ``max`` or ``sum``: the denominator of N(C_i) over P.
        ignore_eps: a prompt whose max |C_i| is below this is "ignored" (docs/science.md §5).
        batch_size: prompt variants scored per forward pass.
        max_units: a question with more units is refused when the data is loaded (UNPACT's
            cost grows with the square of the units).
    """

    granularity: Granularity
    removal: Removal
    filler: str | None
    scope: Literal["question"]
    target: Target
    alpha: float
    beta: float
    normalize: Normalization
    ignore_eps: float
    batch_size: int
    max_units: int

    def __post_init__(self) -> None:
        checks.unit_interval("unpact.alpha", self.alpha)
        checks.unit_interval("unpact.beta", self.beta)
        checks.at_least("unpact.ignore_eps", self.ignore_eps, 0)
        checks.at_least("unpact.batch_size", self.batch_size, 1)
        checks.at_least("unpact.max_units", self.max_units, 1)
