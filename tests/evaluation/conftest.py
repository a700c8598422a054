"""Model fixtures for these tests (see tests/model_fixtures.py)."""

from tests.model_fixtures import *  # noqa: F403
