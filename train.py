"""Unlearning runs: ``python train.py [overrides]`` = ``unpact train [overrides]``."""

from unpact_exp.cli import script

if __name__ == "__main__":
    script("train")
