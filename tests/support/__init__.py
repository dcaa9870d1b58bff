"""Test support: real servers, the simulator, a TCP proxy, record generators."""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str, required: str) -> NoReturn:
    """Skip the test for want of a server; under CI=true fail it instead, saying `required`."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: {required})")
    pytest.skip(reason)
