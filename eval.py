"""Evaluate a saved unlearned model: ``python eval.py unlearned=DIR`` = ``unpact eval ...``."""

from unpact_exp.cli import script

if __name__ == "__main__":
    script("eval")
