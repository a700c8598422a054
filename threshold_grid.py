"""Tune the KeyToken thresholds of a run: ``python threshold_grid.py RUN_DIR ...``."""

from unpact_exp.cli import script

if __name__ == "__main__":
    script("grid")
