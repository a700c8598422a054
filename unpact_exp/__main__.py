"""``python -m unpact_exp COMMAND ...``: the ``unpact`` command (:mod:`unpact_exp.cli`)."""

import sys

from unpact_exp.cli import main

if __name__ == "__main__":
    sys.exit(main())
