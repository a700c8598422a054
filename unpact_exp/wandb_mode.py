"""How a W&B run starts: the mode the environment allows, and whether the server answers.

Shared by the run's logger (:mod:`unpact_exp.tracking`) and the report's upload
(:mod:`unpact_exp.report.wandb_upload`), so both honour the same switches:

- ``WANDB_MODE=offline`` (or ``dryrun``) or ``WANDB_MODE=disabled`` / ``WANDB_DISABLED=true``
  in the environment win over a configured ``online``: a test session, a cluster without
  network or a benchmark that switched W&B off is never sent online by ``logger=wandb_online``.
  The environment only ever restricts: ``WANDB_MODE=online`` does not turn an offline
  configuration online.
- before an online start, the server is probed with a TCP connect bounded by a timeout
  (:func:`reachable`); W&B's own online init retries for far longer than its
  ``init_timeout`` without a network.
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Mapping
from urllib.parse import urlparse

MODES = ("disabled", "offline", "online")
"""The W&B modes, most restrictive first."""
_ALIASES = {"dryrun": "offline", "run": "online"}


def environment_mode(env: Mapping[str, str] | None = None) -> str | None:
    """The mode the environment asks for (``WANDB_MODE``, ``WANDB_DISABLED``), or None."""
    env = os.environ if env is None else env
    if env.get("WANDB_DISABLED", "").strip().lower() in ("true", "1", "yes"):
        return "disabled"
    mode = env.get("WANDB_MODE", "").strip().lower()
    mode = _ALIASES.get(mode, mode)
    return mode if mode in MODES else None


def effective_mode(configured: str, env: Mapping[str, str] | None = None) -> str:
    """The more restrictive of ``configured`` and the environment's mode.

    ``effective_mode("online", {"WANDB_MODE": "offline"}) == "offline"``;
    ``effective_mode("offline", {"WANDB_MODE": "online"}) == "offline"``.
    """
    wanted = environment_mode(env)
    if wanted is None:
        return configured
    return min(configured, wanted, key=MODES.index)


def reachable(url: str, timeout: float) -> bool:
    """Whether a TCP connection to ``url``'s host opens within ``timeout`` s (DNS included)."""
    parsed = urlparse(url)
    host = parsed.hostname
    if not host:
        return False
    port = parsed.port or (80 if parsed.scheme == "http" else 443)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    thread = threading.Thread(target=probe, daemon=True)  # getaddrinfo ignores timeouts
    thread.start()
    thread.join(timeout)
    return bool(result and result[0])
