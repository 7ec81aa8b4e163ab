"""Fixtures of the protoc plugin tests (helpers are in _plugin_kit.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from _plugin_kit import generate_test_protos


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Directory with the generated modules of the test protos (generated once)."""
    out = tmp_path_factory.mktemp("generated")
    generate_test_protos(out)
    return out


@pytest.fixture(scope="session")
def generated_on_path(generated: Path) -> Iterator[Path]:
    """``generated``, importable: on sys.path for the session."""
    sys.path.insert(0, str(generated))
    try:
        yield generated
    finally:
        sys.path.remove(str(generated))
