"""Summarise sweeps: ``python report.py RUN_DIR [...]`` = ``unpact report ...``."""

from unpact_exp.cli import script

if __name__ == "__main__":
    script("report")
