"""Fail fast, with a useful message, when a Hugging Face hub id cannot be reached.

Without network, every hub call retries for about 20 seconds before failing, so a
sweep of 8 runs over 4 datasets would sit silently for minutes and then print an
unhelpful stack. Instead we check the offline flags first, then ask the hub once,
the way ``huggingface_hub`` itself would (its HTTP session, so ``HF_ENDPOINT``
mirrors and ``HTTPS_PROXY``/``HTTP_PROXY`` proxies are honoured, with a short
timeout), and raise one error that names the id and tells the user how to use a
local copy.
"""

from __future__ import annotations

import functools
import os

PROBE_TIMEOUT_S = 3.0
_OFFLINE_FLAGS = ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")


def offline_flag_set() -> str | None:
    """Return the name of the first HF offline environment flag that is on, else None.

    Read at call time (``huggingface_hub`` reads ``HF_HUB_OFFLINE`` once, at its import).
    """
    for name in _OFFLINE_FLAGS:
        if os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}:
            return name
    return None


def hub_endpoint() -> str:
    """The hub the client talks to: ``HF_ENDPOINT`` (a mirror) or huggingface_hub's default."""
    from huggingface_hub import constants

    return (os.environ.get("HF_ENDPOINT") or constants.ENDPOINT).rstrip("/")


@functools.lru_cache(maxsize=8)
def _answers(endpoint: str) -> bool:
    """Whether ``endpoint`` gives any HTTP answer below 500 within ``PROBE_TIMEOUT_S``."""
    from huggingface_hub.utils import get_session

    try:
        response = get_session().head(endpoint, timeout=PROBE_TIMEOUT_S, follow_redirects=False)
    except Exception:  # connection refused, DNS failure, timeout, proxy error: unreachable
        return False
    return response.status_code < 500


def hub_reachable() -> bool:
    """Whether the hub (``HF_ENDPOINT`` through any configured proxy) answers; probed once."""
    return _answers(hub_endpoint())


def hub_unavailable_reason() -> str | None:
    """Why hub ids cannot be used right now, or None when the hub can be tried."""
    flag = offline_flag_set()
    if flag:
        return f"{flag} is set"
    if not hub_reachable():
        return (
            f"{hub_endpoint()} is not reachable (no network); set HF_ENDPOINT for a mirror "
            "or HTTPS_PROXY for a proxy"
        )
    return None


def hub_error_message(kind: str, hub_id: str, reason: str, local_override: str) -> str:
    """The one message a user sees when a hub id fails.

    Args:
        kind: "model" or "dataset".
        hub_id: the id that could not be fetched.
        reason: why (from :func:`hub_unavailable_reason` or the underlying error).
        local_override: the config override that points at a local copy, e.g. ``model.path``.
    """
    return (
        f"Cannot load {kind} '{hub_id}' from the Hugging Face hub: {reason}. "
        f"Download it on a machine with access (e.g. `hf download {hub_id}"
        f"{' --repo-type dataset' if kind == 'dataset' else ''} --local-dir DIR`) and pass "
        f"`{local_override}=DIR`, or use the offline defaults (model=tiny data=synthetic)."
    )
