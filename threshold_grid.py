"""Tune a run's KeyToken thresholds: ``python threshold_grid.py RUN_DIR --alpha A --beta B``."""

import sys

from unpact_exp.stages.threshold_grid import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
