"""The environment restricts W&B's mode, never widens it."""

from __future__ import annotations

import pytest

from unpact_exp.wandb_mode import effective_mode, environment_mode


@pytest.mark.parametrize(
    ("configured", "env", "expected"),
    [
        ("online", {}, "online"),
        ("online", {"WANDB_MODE": "offline"}, "offline"),
        ("online", {"WANDB_MODE": "dryrun"}, "offline"),
        ("online", {"WANDB_MODE": "disabled"}, "disabled"),
        ("online", {"WANDB_DISABLED": "true"}, "disabled"),
        ("offline", {"WANDB_MODE": "online"}, "offline"),  # never widened
        ("offline", {"WANDB_MODE": "disabled"}, "disabled"),
        ("online", {"WANDB_MODE": "nonsense"}, "online"),  # not a mode: ignored
    ],
)
def test_effective_mode(configured: str, env: dict[str, str], expected: str) -> None:
    assert effective_mode(configured, env) == expected


def test_no_environment_mode() -> None:
    assert environment_mode({}) is None
