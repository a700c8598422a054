"""What Hydra says about the current process, without importing anything heavy.

Both the entry points (a user error is raised as is inside a sweep) and the trainer
(``ddp`` becomes ``ddp_spawn`` inside a sweep) ask the same question.
"""

from __future__ import annotations


def in_multirun() -> bool:
    """Whether this process is a Hydra multirun job."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    return HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
