"""Tune the KeyToken thresholds of a run: ``python threshold_grid.py RUN_DIR --alpha .. --beta ..``."""

import sys

from unpact_exp.stages.threshold_grid import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
