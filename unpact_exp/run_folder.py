"""A run folder is data, never code: what a tool reading a finished run may take from it.

``threshold_grid.py RUN_DIR`` (and ``eval.py`` on a run's ``unlearned/``) read folders that
may come from someone else. A recorded ``.hydra/config.yaml`` is a plain YAML file anyone
can edit: taking ``model.trust_remote_code: true`` from it, together with an ``auto_map`` in
``unlearned/config.json`` naming a module shipped beside the weights, made transformers
import and run that module. Paths recorded there (the data, the artifacts, the target) point
into someone else's machine, or anywhere.

So the *trusted* settings (:func:`is_trusted_key`) -- where models, tokenizers and data are
loaded from, whether remote code may run, the class names a config imports, and every
``paths`` entry -- come from the user's command and the package's defaults only, composed
here from the packaged ``conf/`` (the run's recorded group choices, e.g. ``model=tiny``,
select packaged option files and nothing else). A recorded value that differs is reported
(:func:`ignored_values`) and ignored. Everything else (thresholds, templates, evaluation
settings, the prompt format) is read from the recording: numbers and strings that cannot run
code and that the tools must reproduce.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unpact_exp.errors import DataError, UnpactConfigError

RECORDED_CONFIG = Path(".hydra") / "config.yaml"
RECORDED_HYDRA = Path(".hydra") / "hydra.yaml"
TRUSTED_NAMES = ("path", "hub_id", "tokenizer_path", "trust_remote_code", "decoder_layer_cls")
TRUSTED_NAMES += ("gguf",)
"""Keys of the ``model`` and ``data`` groups that say what is loaded, from where, and how."""
TRUSTED_GROUPS = ("paths",)
"""Groups taken whole from the user's command and the defaults."""
LOADING_GROUPS = ("model", "data")
UNCOMPARED = ("paths.output_dir",)
"""Trusted keys that always differ (the folder a run wrote into), set, never reported."""


def is_trusted_key(group: str, name: str) -> bool:
    """Whether ``group.name`` must come from the user's command or the defaults, never a run.

    Every ``paths`` key; in ``model``/``data``: ``path``, ``*_path``, ``hub_id``,
    ``*_hub_id``, ``tokenizer_path``, ``trust_remote_code``, ``decoder_layer_cls``, ``gguf``.
    """
    if group in TRUSTED_GROUPS:
        return True
    if group not in LOADING_GROUPS:
        return False
    return name in TRUSTED_NAMES or name.endswith(("_path", "_hub_id"))


def read_recorded(run_dir: Path) -> tuple[Any, Path]:
    """The run's recorded config with its Hydra interpolations resolved as in the run, and the
    run's recorded working directory (``${hydra:runtime.cwd}``).

    Raises:
        DataError: ``run_dir`` holds no ``.hydra/config.yaml``/``hydra.yaml``, or they are
            not readable YAML mappings.
    """
    from omegaconf import DictConfig, OmegaConf

    import unpact_exp.resolvers  # noqa: F401  (config resolvers)

    saved, hydra = run_dir / RECORDED_CONFIG, run_dir / RECORDED_HYDRA
    for path in (saved, hydra):
        if not path.is_file():
            raise DataError(
                f"{path} does not exist; {run_dir} is not a train.py run directory (give the "
                "folder of one job, e.g. multirun/DATE/TIME/0)."
            )
    try:
        runtime = OmegaConf.load(hydra).hydra.runtime
        cwd = str(runtime.cwd)
        text = saved.read_text(encoding="utf-8")
    except Exception as err:  # YAML errors, missing keys, bad bytes: all one message
        raise DataError(f"cannot read {hydra} or {saved} ({_one_line(err)}).") from None
    # Resolve ${hydra:...} as it resolved in the run; nothing else of Hydra is needed here.
    text = text.replace("${hydra:runtime.cwd}", cwd)
    text = text.replace("${hydra:runtime.output_dir}", str(run_dir))
    try:
        cfg = OmegaConf.create(text)
    except Exception as err:
        raise DataError(f"{saved} is not a readable config ({_one_line(err)}).") from None
    if not isinstance(cfg, DictConfig):
        raise DataError(f"{saved} is not a mapping of config groups.")
    return cfg, Path(cwd)


def recorded_choices(run_dir: Path) -> dict[str, str]:
    """The run's group choices (``model: tiny``...) from ``.hydra/hydra.yaml``; {} if absent."""
    from omegaconf import OmegaConf

    try:
        choices = OmegaConf.load(run_dir / RECORDED_HYDRA).hydra.runtime.choices
    except Exception:  # an older or hand-written hydra.yaml: fall back to the recorded names
        return {}
    return {str(k): str(v) for k, v in choices.items() if v is not None}


def compose_here(config_name: str, overrides: Sequence[str]) -> Any:
    """``conf/<config_name>.yaml`` with ``overrides``, resolved as a run started here would be.

    ``paths.root_dir`` is ``$UNPACT_ROOT`` or the current directory, exactly as for
    ``train.py`` run from here; the ``hydra`` node is dropped.

    Raises:
        UnpactConfigError: the overrides do not compose (an unknown key or option).
    """
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf, open_dict

    from unpact_exp import CONF_DIR

    GlobalHydra.instance().clear()
    try:
        with initialize_config_dir(version_base="1.3", config_dir=str(CONF_DIR)):
            cfg = compose(config_name, overrides=list(overrides), return_hydra_config=True)
    except Exception as err:  # Hydra's override and composition errors
        raise UnpactConfigError(
            f"the overrides {list(overrides)} do not compose with the packaged configs "
            f"({_one_line(err)})."
        ) from None
    finally:
        GlobalHydra.instance().clear()
    HydraConfig.instance().set_config(cfg)
    with open_dict(cfg):
        cfg.paths.output_dir = None
        paths = OmegaConf.to_container(cfg.paths, resolve=True)
        del cfg["hydra"]
        cfg.paths = paths
    return cfg


def trusted_values(cfg: Any) -> dict[str, Any]:
    """``{"model.trust_remote_code": False, "paths.root_dir": "...", ...}`` of ``cfg``."""
    from omegaconf import OmegaConf

    found: dict[str, Any] = {}
    for group in (*LOADING_GROUPS, *TRUSTED_GROUPS):
        node = cfg.get(group)
        if node is None or not hasattr(node, "items"):
            continue
        for name in node:
            if is_trusted_key(group, str(name)):
                value = OmegaConf.select(node, str(name), throw_on_resolution_failure=False)
                if hasattr(value, "items") or isinstance(value, list | tuple):
                    value = OmegaConf.to_container(value, resolve=False)
                found[f"{group}.{name}"] = value
    return found


def ignored_values(
    recorded: Any, used: Any, where: str, groups: Sequence[str] = (*LOADING_GROUPS, "paths")
) -> list[str]:
    """One line per trusted value the run recorded that differs from the one used.

    Args:
        recorded: the run's recorded config (:func:`read_recorded`).
        used: the config the tool runs with.
        where: the recording, for the message (``'RUN/.hydra/config.yaml'``).
        groups: the groups compared.
    """
    theirs, ours = trusted_values(recorded), trusted_values(used)
    lines = []
    for key in sorted(theirs):
        if key in UNCOMPARED or key.split(".")[0] not in groups or theirs[key] == ours.get(key):
            continue
        lines.append(
            f"{where} records {key}={theirs[key]!r}: ignored (a run folder is data, never "
            f"code); using {ours.get(key)!r} from this command or the defaults (pass "
            f"{key}=... to choose another)."
        )
    return lines


def config_for_run(run_dir: Path, overrides: Sequence[str], config_name: str = "train") -> Any:
    """The config to re-analyse ``run_dir`` with, and the recorded values it ignored.

    The packaged config, with the run's recorded ``model``/``data`` choices and the user's
    ``overrides``, supplies every trusted value; the recording supplies the rest, except
    what the user overrides. ``paths.output_dir`` is ``run_dir``.

    Returns:
        ``(cfg, ignored)``: ``ignored`` as :func:`ignored_values` words it.

    Raises:
        DataError: the recording is missing or unreadable.
        UnpactConfigError: the choices or overrides do not compose.
    """
    from omegaconf import OmegaConf, open_dict

    recorded, _ = read_recorded(run_dir)
    choices = recorded_choices(run_dir)
    picks = []
    for group in LOADING_GROUPS:
        choice = choices.get(group) or OmegaConf.select(recorded, f"{group}.name", default=None)
        if choice is not None and not any(o.split("=", 1)[0] == group for o in overrides):
            picks.append(f"{group}={choice}")
    fresh = compose_here(config_name, [*picks, *overrides])
    science = OmegaConf.to_container(recorded, resolve=False)
    for group in list(science):
        node = science[group]
        if group in TRUSTED_GROUPS:
            del science[group]
        elif isinstance(node, dict):
            for name in [n for n in node if is_trusted_key(group, str(n))]:
                del node[name]
    user = [o.lstrip("+~").split("=", 1)[0] for o in overrides if "=" in o]
    try:
        cfg = OmegaConf.merge(fresh, science)
    except Exception as err:
        raise DataError(
            f"{run_dir / RECORDED_CONFIG} does not fit the packaged configs ({_one_line(err)})."
        ) from None
    with open_dict(cfg):
        for key in user:  # the user's command wins over the recording, for every key
            OmegaConf.update(cfg, key, OmegaConf.select(fresh, key), force_add=True)
        cfg.paths.output_dir = str(run_dir)
    return cfg, ignored_values(recorded, cfg, str(run_dir / RECORDED_CONFIG))


def run_folder_of(model_dir: str | Path) -> Path | None:
    """The run folder that wrote ``model_dir`` (``<run>/unlearned``), or None if it is not one."""
    parent = Path(model_dir).expanduser().resolve().parent
    return parent if (parent / RECORDED_CONFIG).is_file() else None


def ignored_by_eval(unlearned: str | Path, cfg: Any) -> list[str]:
    """What ``eval.py`` ignores of the recording of the run that wrote ``unlearned``.

    ``eval.py`` never reads the recording to decide anything; it reports the trusted values
    of ``model`` and ``data`` the run recorded that differ from its own, so a user who
    expected the run's settings learns that they were not used. Paths are not compared
    (``eval.py`` runs from anywhere). An unreadable recording is no reason to stop.
    """
    run_dir = run_folder_of(unlearned)
    if run_dir is None:
        return []
    try:
        recorded, _ = read_recorded(run_dir)
    except DataError:
        return []
    return ignored_values(recorded, cfg, str(run_dir / RECORDED_CONFIG), LOADING_GROUPS)


def _one_line(err: BaseException) -> str:
    return " ".join(f"{type(err).__name__}: {err}".split())
