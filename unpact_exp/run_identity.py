"""What a run is called in W&B, and where it is filed: name, group, job type, tags, keys.

W&B is used to compare settings across seeds, so every run carries, as flat config keys, the
axes a dashboard filters and groups by: ``setting`` (``npo+kl``, ``ga@keytoken+gd``: the
report's row key, :func:`~unpact_exp.results.setting_name`), ``method``, ``regularizer``,
``seed``, ``token_weighting``, ``peft``, ``model``, ``data`` and ``stage``; the whole composed
config follows under ``cfg``. Its tags are the setting, model, data and stage; its
``job_type`` is ``train`` (``train.py``), ``eval`` (``eval.py``) or ``report``
(``report.py --wandb``); its name says the setting and the seed (``npo+kl seed=0``), not the
override string.

The group is the sweep: ``logger.group`` when set, else ``<experiment>-<sweep id>``, where the
experiment is the ``experiment=`` choice (else the task name) and the sweep id is
``logger.sweep_id``, else the multirun folder's name (with its date when the folder is Hydra's
default ``HH-MM-SS``). A single run without either is not grouped. Streams that run one
experiment as several ``-m`` sweeps (``make run-real``: one per seed) pass the same
``logger.group``, so their runs share one group.

``eval.py`` evaluates a saved model: its keys (setting, method, seed, ...) are those the
evaluated run recorded in its ``results.json`` (read as data, beside ``unlearned/``), so an
evaluation sits beside the training run it re-measures.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from unpact_exp.results import RESULTS_FILE, method_label, setting_name

JOB_TYPES = {"unlearn": "train", "target": "train", "eval": "eval"}
"""W&B ``job_type`` per stage (``report`` is the report's upload)."""
KEYS = ("setting", "method", "regularizer", "seed", "token_weighting", "peft")
"""The flat config keys every run carries (with ``model``, ``data`` and ``stage``)."""
MAX_TAG = 64  # W&B refuses longer tags
_HYDRA_TIME = re.compile(r"\d\d-\d\d-\d\d")


@dataclass(frozen=True)
class RunIdentity:
    """A run as W&B files it.

    Attributes:
        group: the sweep's group (None: not grouped).
        name: the setting and the seed.
        job_type: ``train``, ``eval`` or ``report``.
        tags: setting, model, data, stage (no empty or repeated tag).
        keys: the flat config keys (:data:`KEYS`, ``model``, ``data``, ``stage``).
    """

    group: str | None
    name: str
    job_type: str
    tags: tuple[str, ...]
    keys: dict[str, Any] = field(default_factory=dict)

    def config(self, cfg: Any) -> dict[str, Any]:
        """The run's W&B config: the flat keys, then the composed config under ``cfg``."""
        return {**self.keys, "cfg": OmegaConf.to_container(cfg, resolve=True)}


def run_identity(cfg: Any) -> RunIdentity:
    """The identity of the run ``cfg`` describes (a train or an eval run)."""
    stage = str(cfg.stage)
    keys = _evaluated_keys(cfg) if stage == "eval" else _training_keys(cfg)
    keys |= {"model": _name(cfg.get("model")), "data": _name(cfg.get("data")), "stage": stage}
    peft = f" {keys['peft']}" if keys.get("peft") not in (None, "none") else ""
    name = f"{keys['setting']}{peft} seed={keys['seed']}"
    if stage == "eval":
        name = f"eval {name}"
    tags = tuple(
        dict.fromkeys(
            str(keys[k])[:MAX_TAG] for k in ("setting", "model", "data", "stage") if keys.get(k)
        )
    )
    group = sweep_group(cfg.get("logger") or {}, experiment_name(cfg))
    return RunIdentity(group, name, JOB_TYPES.get(stage, stage), tags, keys)


def _name(node: Any) -> Any:
    return node.get("name") if hasattr(node, "get") else node


def _training_keys(cfg: Any) -> dict[str, Any]:
    method, regularizer = _name(cfg.get("method")), _name(cfg.get("regularizer"))
    weighting = cfg.method.get("token_weighting") if cfg.get("method") is not None else None
    setting = (
        "target"
        if cfg.stage == "target"
        else setting_name(method_label(method, weighting), regularizer) or "unknown"
    )
    return {
        "setting": setting,
        "method": method,
        "regularizer": regularizer,
        "seed": cfg.get("seed"),
        "token_weighting": weighting,
        "peft": _name(cfg.get("peft")),
    }


def _evaluated_keys(cfg: Any) -> dict[str, Any]:
    """The keys the evaluated run recorded (``<unlearned>/../results.json``), where readable."""
    recorded: dict[str, Any] = {}
    unlearned = cfg.get("unlearned")
    if unlearned:
        try:
            data = json.loads((Path(str(unlearned)).parent / RESULTS_FILE).read_text())
            recorded = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            recorded = {}
    keys = {k: recorded.get(k) for k in KEYS}
    keys["setting"] = keys["setting"] or "unknown"
    if keys["seed"] is None:
        keys["seed"] = cfg.get("seed")
    return keys


def experiment_name(cfg: Any) -> str:
    """The ``experiment=`` choice of this Hydra job, else the task name (``train``, ``eval``)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        choice = HydraConfig.get().runtime.choices.get("experiment")
        if choice:
            return str(choice)
    return str(cfg.get("task_name") or cfg.get("stage") or "run")


def sweep_group(logger_cfg: Any, experiment: str) -> str | None:
    """``logger.group``, else ``<experiment>-<sweep id>``, else None (module docstring)."""
    group = logger_cfg.get("group")
    if group:
        return str(group)
    sweep_id = logger_cfg.get("sweep_id") or sweep_folder_id()
    return f"{experiment}-{sweep_id}" if sweep_id else None


def sweep_folder_id() -> str | None:
    """The multirun folder's name (``<date>_<time>`` for Hydra's default); None outside one."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None
    hc = HydraConfig.get()
    if hc.mode is None or hc.mode.name != "MULTIRUN":
        return None
    folder = Path(hc.sweep.dir)
    if _HYDRA_TIME.fullmatch(folder.name):
        return f"{folder.parent.name}_{folder.name}"
    return folder.name
