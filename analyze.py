"""Explain one prompt with UNPACT: `python analyze.py question="..." [answer="..."]`."""

import hydra
from omegaconf import DictConfig

import unpact_exp.resolvers  # noqa: F401  (config resolvers)


@hydra.main(version_base="1.3", config_path="unpact_exp/conf", config_name="analyze")
def main(cfg: DictConfig) -> dict:
    """Compose the config and hand it to :func:`unpact_exp.run.cli_main` (stage ``analyze``)."""
    from unpact_exp.run import cli_main

    return cli_main(cfg)


if __name__ == "__main__":
    from unpact_exp.hydra_entry import run_hydra_app

    run_hydra_app(main)  # Hydra's own errors (unknown options) as one line, exit 2
