"""Which forget examples a cache of M0's values holds, and the check that a fit needs no more.

NPO's reference log-probs and the token weights are values of the original model M0 (the
policy before its first update). They are computed at fit start for the examples the fit
can reach (:meth:`~unpact_exp.methods.base.MethodContext.forget_batches_to_train`: the first
epoch, cut at ``trainer.max_steps``), not for the whole forget set, and under the training
precision. A ``known`` mask (a buffer, checkpointed with the values) records which rows are
real; a resumed run whose fit reaches further than the checkpointed one cannot fill the
missing rows (M0 is gone), so it is refused with the fix.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor

from unpact_exp.errors import UnpactConfigError


def check_covered(known: Tensor, batches: Iterable[dict[str, Tensor]], what: str) -> None:
    """Refuse a restored cache that lacks an example this fit trains on.

    Args:
        known: ``[n_forget]`` bool, the rows the checkpointed run computed.
        batches: the forget batches this fit can train on (their ``index``).
        what: the cache's name, for the message.

    Raises:
        UnpactConfigError: naming how many examples are missing and the fix.
    """
    needed = {i for batch in batches for i in batch["index"].tolist()}
    missing = sorted(i for i in needed if not bool(known[i]))
    if missing:
        raise UnpactConfigError(
            f"{what} in the checkpoint were computed with the original model for "
            f"{int(known.sum())} forget examples, but this run reaches {len(missing)} more "
            f"(e.g. index {missing[0]}): trainer.max_steps was raised (or method.batch_size or "
            "seed changed) after the checkpoint. The original model is no longer there to "
            "compute them: resume with the settings of the interrupted run, or start a new "
            "run directory."
        )


def guard_known(known: Tensor, index: Tensor, what: str) -> None:
    """Fail loudly if a training batch holds an example the cache never computed.

    A zero row would silently stand in for M0's value; this never happens when the cache
    was filled from :meth:`forget_batches_to_train`, so reaching it is a bug.
    """
    if not bool(known[index.to(known.device)].all()):
        raise RuntimeError(
            f"{what}: a training batch holds forget examples that were not cached at fit "
            f"start (indices {index.tolist()}); forget_batches_to_train missed them."
        )


def fill_missing_mask(
    state_dict: dict[str, Any], prefix: str, known: str, ready: str, rows: str
) -> None:
    """Checkpoints written before the ``known`` mask existed cached every example (or none).

    Args:
        state_dict: the state being loaded (the mask is added to it when absent).
        prefix: the cache module's prefix in it.
        known: the mask buffer's name; ``ready``: the filled flag's; ``rows``: a buffer
            with one row per forget example.
    """
    if prefix + known in state_dict or prefix + ready not in state_dict:
        return
    saved = state_dict[prefix + rows]
    filled = bool(state_dict[prefix + ready])
    state_dict[prefix + known] = torch.full(
        (saved.shape[0],), filled, dtype=torch.bool, device=saved.device
    )
