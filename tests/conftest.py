"""Fixtures shared by all tests."""

import pytest


@pytest.fixture(scope="session")
def hand_model() -> str:
    """The `model.hand_model` value for tests: the project's open hand model."""
    return "open:right"
