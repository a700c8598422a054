"""Summarise unlearning sweeps: ``python report.py multirun/DATE/TIME [...] [--out OUTDIR]``."""

import sys

from unpact_exp.report import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
