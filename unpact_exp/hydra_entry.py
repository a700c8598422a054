"""Run a Hydra app so that Hydra's own errors are one line and exit status 2, as ours are.

Hydra composes the config before any of our code runs. An unknown option (``foo=1``,
``trainer.max_stepz=5``), a malformed override or a missing option file made Hydra print a
multi-line message and exit 1, where every other bad input is ``error: <message>`` on stderr
and exit 2 (README). Hydra prints and exits inside ``hydra.main`` unless
``HYDRA_FULL_ERROR=1``, in which case it re-raises: :func:`run_hydra_app` sets it for the
app, catches Hydra's errors (and a run folder Hydra cannot write) and words them in one line.
Whether the *user* asked for full errors is kept (:func:`user_wants_traceback`): then the
traceback is shown, as before.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

USER_FULL_ERROR = "UNPACT_USER_HYDRA_FULL_ERROR"
"""Where the user's own ``HYDRA_FULL_ERROR`` is kept (inherited by relaunched DDP ranks)."""
USAGE_EXIT = 2


def user_wants_traceback() -> bool:
    """Whether the user set ``HYDRA_FULL_ERROR=1`` (not this module, for Hydra's sake)."""
    return os.environ.get(USER_FULL_ERROR, os.environ.get("HYDRA_FULL_ERROR", "")) == "1"


def hydra_message(err: BaseException) -> str:
    """Hydra's multi-line message as one line (OmegaConf's ``full_key``/``object_type`` lines,
    which repeat the key, are left out)."""
    text = str(err).split("Config search path:")[0]  # Hydra's internals, not the user's
    cause = err.__cause__
    if cause is not None and str(cause) not in text:
        text += "\n" + str(cause)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("full_key:", "object_type="))]
    return " ".join(line if line.endswith((":", ".")) else line + ";" for line in lines)[:-1]


def run_hydra_app(app: Callable[[], Any]) -> None:
    """Call a ``@hydra.main`` function; Hydra's errors become ``error: <one line>``, exit 2.

    Errors of the run itself are handled by :func:`unpact_exp.run.cli_main` (one line for a
    user error, a traceback for a bug) and pass through here unchanged.
    """
    from hydra.errors import HydraException

    from unpact_exp.storage import storage_failure

    os.environ.setdefault(USER_FULL_ERROR, os.environ.get("HYDRA_FULL_ERROR", ""))
    os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra re-raises instead of printing and exiting
    try:
        app()
    except (HydraException, OSError) as err:
        hydra = isinstance(err, HydraException)  # MissingConfigException is an OSError too
        failure = None if hydra else storage_failure(err)
        if user_wants_traceback() or (not hydra and failure is None):
            raise
        if failure is not None:
            where = err.filename or "the run folder"
            message = (
                f"cannot write {where} ({failure.reason}); choose a writable run folder "
                "(hydra.run.dir=DIR, or hydra.sweep.dir=DIR with -m) or fix its permissions."
            )
        else:
            message = hydra_message(err)
        print(f"error: {message}", file=sys.stderr, flush=True)
        raise SystemExit(USAGE_EXIT) from None
