"""Experiment loggers: W&B (offline by default) and a CSV logger beside it.

Each W&B run is filed for comparison (:mod:`unpact_exp.run_identity`): grouped by sweep (one
group for every seed stream of an experiment), named after its setting and seed, with the
setting, method, regularizer, seed, token weighting and PEFT as flat config keys, tags, and a
``job_type``. ``mode: offline`` needs no account and no network; ``logger=wandb_online`` falls
back to offline with one warning if the online init does not succeed within
``init_timeout``.

The environment wins when it is more restrictive (:func:`unpact_exp.wandb_mode.effective_mode`):
``WANDB_MODE=offline`` or ``disabled`` keeps ``logger=wandb_online`` off the network without
any wait.

Logging never blocks work: before an online init, the W&B server
(``wandb.Settings().base_url``, or ``$WANDB_BASE_URL``) is probed with a TCP
connect bounded by ``init_timeout`` (DNS included, in a daemon thread). If it is
unreachable the run goes offline at once; W&B's own online init, which retries
for far longer than its ``init_timeout`` setting without a network, is not even
started. A reachable server that still fails to start the run (bad key, ...) falls
back the same way, after W&B's own ``init_timeout``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from unpact_exp.errors import UnpactConfigError
from unpact_exp.run_identity import run_identity
from unpact_exp.wandb_mode import MODES, effective_mode, reachable

LOGGER_KINDS = ("wandb", "none")


def build_loggers(logger_cfg: Any, cfg: Any, run_dir: Path) -> list[Any]:
    """Loggers for ``logger_cfg.kind``, plus CSV when ``logger_cfg.csv``."""
    from lightning.pytorch.loggers import CSVLogger

    kind = logger_cfg.kind
    if kind not in LOGGER_KINDS:
        raise UnpactConfigError(f"logger.kind={kind!r} is not one of {list(LOGGER_KINDS)}.")
    loggers: list[Any] = []
    if kind == "wandb":
        loggers.append(_wandb_logger(logger_cfg, cfg, run_dir))
    if logger_cfg.csv:
        loggers.append(CSVLogger(save_dir=str(run_dir), name="csv", version=""))
    return loggers


def _wandb_logger(logger_cfg: Any, cfg: Any, run_dir: Path) -> Any:
    import wandb

    mode = logger_cfg.mode
    if mode not in MODES:
        raise UnpactConfigError(f"logger.mode={mode!r} is not one of {sorted(MODES)}.")
    mode = effective_mode(mode)
    identity = run_identity(cfg)
    kwargs = dict(
        project=logger_cfg.project,
        entity=logger_cfg.entity,
        group=identity.group,
        name=identity.name,
        job_type=identity.job_type,
        tags=list(identity.tags),
        save_dir=str(run_dir),
        config=identity.config(cfg),
        settings=wandb.Settings(init_timeout=float(logger_cfg.init_timeout), silent=True),
    )
    timeout = float(logger_cfg.init_timeout)
    if mode == "online":
        server = kwargs["settings"].base_url
        if not reachable(server, timeout):
            _warn_offline(f"{server} is not reachable within {timeout:g} s", run_dir)
            return _wandb(mode="offline", **kwargs)
    logger = _wandb(mode=mode, **kwargs)
    if mode == "online":
        try:
            _ = logger.experiment  # start the run now, so a failure is caught here
        except Exception as err:  # noqa: BLE001 - any init failure must fall back
            _warn_offline(f"{type(err).__name__}: {err}", run_dir)
            logger = _wandb(mode="offline", **kwargs)
    return logger


def wandb_record(loggers: list[Any]) -> dict[str, Any] | None:
    """Where the run's W&B logger files it (``project``, ``entity``, ``group``, ``name``), for
    ``results.json``: ``report.py --wandb`` uploads the report into the same group. None
    without a W&B logger."""
    for logger in loggers:
        init = getattr(logger, "_wandb_init", None)
        if isinstance(init, dict):
            return {k: init.get(k) for k in ("project", "entity", "group", "name")}
    return None


def _wandb(**kwargs: Any) -> Any:
    """A ``WandbLogger`` without Lightning's ``anonymous=None`` init argument.

    wandb >= 0.2x prints a deprecation warning for any ``anonymous`` value, even
    ``None`` and even when silent; dropping the key keeps runs to their own warnings.
    """
    from lightning.pytorch.loggers import WandbLogger

    logger = WandbLogger(**kwargs)
    init = getattr(logger, "_wandb_init", None)
    if isinstance(init, dict) and init.get("anonymous") is None:
        init.pop("anonymous", None)
    return logger


def _warn_offline(reason: str, run_dir: Path) -> None:
    warnings.warn(
        f"W&B online init failed ({reason}); logging offline to {run_dir}/wandb instead. "
        "Upload later with `wandb sync`.",
        UserWarning,
        stacklevel=3,
    )


def finish_loggers(loggers: list[Any]) -> None:
    """Close W&B runs so offline files are complete even when the run raised."""
    try:
        import wandb

        if wandb.run is not None:
            wandb.finish()
    except Exception:  # noqa: BLE001 - closing must never mask the run's own error
        pass
