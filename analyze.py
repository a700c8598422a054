"""Explain one prompt: ``python analyze.py question="..."`` = ``unpact explain ...``."""

from unpact_exp.cli import script

if __name__ == "__main__":
    script("explain")
