"""Compose the real ``conf/`` tree in-process, as tests and benchmarks need it.

``python train.py`` pays ~10 s of imports before it does anything; tests and
benchmarks instead compose the same config with Hydra's ``compose`` API, point its
paths at their own folders, and call :func:`unpact_exp.run.main` directly. This is
the one place that does it, so both see exactly what the entry points see.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from unpact_exp import CONF_DIR


def compose_config(
    overrides: list[str],
    output_dir: Path | str,
    artifacts_dir: Path | str,
    root_dir: Path | str,
    config_name: str = "train",
) -> Any:
    """``conf/<config_name>.yaml`` with ``overrides``, paths redirected, HydraConfig set.

    Args:
        overrides: Hydra overrides, as on the command line.
        output_dir: the run folder (``paths.output_dir``).
        artifacts_dir: where targets and generated data live (``paths.artifacts_dir``;
            data under ``<artifacts_dir>/data``).
        root_dir: ``paths.root_dir``.
        config_name: ``train``, ``evaluate`` or ``analyze``.

    Returns:
        The composed config without its ``hydra`` node; ``HydraConfig`` is set, as
        inside a real run, for the code that asks it for the overrides.
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import open_dict

    GlobalHydra.instance().clear()
    with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
        cfg = compose(
            config_name,
            overrides=[
                f"paths.root_dir={root_dir}",
                f"paths.artifacts_dir={artifacts_dir}",
                f"paths.data_dir={artifacts_dir}/data",
                *overrides,
            ],
            return_hydra_config=True,
        )
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = str(output_dir)
        del cfg["hydra"]
    GlobalHydra.instance().clear()
    return cfg
