"""KeyTokens and the focus-shift similarities between two models (docs/science.md §3).

KeyTokens are the units that most help the model produce its answer. With
``P = {i : C_i > 0}`` and ``n`` units::

    if |P| / n < beta:  K = P                                 # few helpers: keep them all
    else:               K = {i in P : N(C_i) > alpha}
    N(C_i) = C_i / max_{j in P} C_j      (unpact.normalize: max)
           = C_i / sum_{j in P} C_j      (unpact.normalize: sum)

An empty P (or a prompt with no units) gives an empty K: "the model ignores the
prompt" is a result, not an error.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence

from unpact_exp.unpact.config import UnpactConfig


def keytokens(
    contributions: Sequence[float], alpha: float, beta: float, normalize: str
) -> list[int]:
    """Indices of the KeyTokens, ascending (docs/science.md §3, rule above).

    Args:
        contributions: C_i per unit.
        alpha: threshold on N(C_i), in (0, 1] (``unpact.alpha``).
        beta: threshold on |P|/n, in (0, 1] (``unpact.beta``).
        normalize: ``max`` or ``sum`` (``unpact.normalize``).

    The values are checked once, where the ``unpact`` group is bound
    (:class:`~unpact_exp.unpact.config.UnpactConfig`); the threshold grid checks its own.
    """
    positive = [i for i, c in enumerate(contributions) if c > 0]
    if not positive:
        return []
    if len(positive) / len(contributions) < beta:
        return positive
    values = [contributions[i] for i in positive]
    denominator = max(values) if normalize == "max" else sum(values)
    return [i for i in positive if contributions[i] / denominator > alpha]


def select_keytokens(contributions: Sequence[float], cfg: UnpactConfig) -> list[int]:
    """:func:`keytokens` with the run's ``unpact`` settings."""
    return keytokens(contributions, cfg.alpha, cfg.beta, cfg.normalize)


def keys_phrase(units: Sequence[str], keytoken_indices: Sequence[int]) -> str:
    """The KeyTokens rendered as a phrase: their unit texts in question order, space-joined.

    With ``unpact.granularity: token`` each unit text is the decoded, stripped token,
    so sub-word pieces come out as separate "words" (e.g. "Par is"); with ``word`` the
    original words are used verbatim. This is the ``{keys}`` of FocusOnKey's templates.
    """
    return " ".join(units[i] for i in sorted(keytoken_indices) if units[i])


def keytoken_similarity(k0: Collection[int], k1: Collection[int]) -> float:
    """``|K0 ∩ K1| / sqrt(|K0| |K1|)``, the cosine of the 0/1 indicator vectors.

    0.0 when either set is empty (docs/science.md §3): an ignored prompt shares no focus.
    """
    a, b = set(k0), set(k1)
    if not a or not b:
        return 0.0
    return len(a & b) / math.sqrt(len(a) * len(b))


def contribution_similarity(c0: Sequence[float], c1: Sequence[float]) -> float:
    """Cosine of the positive parts ``max(C, 0)`` of two contribution vectors.

    Only helping units count, matching how KeyTokens are chosen. When either positive
    part is all zero (the model ignores the prompt, or there are no units) the cosine
    is undefined; we return 0.0, the same convention as :func:`keytoken_similarity`
    for an empty set: no shared focus.

    Raises:
        ValueError: the vectors have different lengths (they must describe the same units).
    """
    if len(c0) != len(c1):
        raise ValueError(
            f"contribution vectors have {len(c0)} and {len(c1)} units; they must describe "
            "the same prompt split the same way."
        )
    p0 = [max(c, 0.0) for c in c0]
    p1 = [max(c, 0.0) for c in c1]
    norm0 = math.sqrt(sum(v * v for v in p0))
    norm1 = math.sqrt(sum(v * v for v in p1))
    if norm0 == 0.0 or norm1 == 0.0:
        return 0.0
    return sum(a * b for a, b in zip(p0, p1)) / (norm0 * norm1)
