"""The contract with h2: every h2 internal that gorums_h2.wire._h2 relies on exists.

h2 promises nothing about its private attributes; our adjustments (the DATA
fast path, graceful GOAWAY, the defences) use some. When an h2 release
renames one, this test names it, instead of 165 tests failing with an
AttributeError deep in a connection (what h2 4.1 and 4.2 do: their
``FrameBuffer`` keeps its bytes in ``data``, not ``_data``).
"""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

from gorums_h2.wire._h2 import missing_h2_internals


def test_installed_h2_has_what_the_wire_layer_relies_on() -> None:
    missing = missing_h2_internals()
    version = importlib.metadata.version("h2")
    assert not missing, (
        f"h2 {version} lacks internals that gorums_h2/wire/_h2.py relies on: "
        f"{', '.join(missing)}. Adapt _h2.py to this h2 release, or keep h2 within "
        "the range pinned in pyproject.toml.")


def test_the_pinned_range_starts_where_the_contract_holds() -> None:
    # h2 4.1 and 4.2 lack FrameBuffer._data; .ci/min-versions tests the floor, 4.3.0
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    requirement = next(r for r in pyproject["project"]["dependencies"]
                       if r.replace(" ", "").startswith("h2>"))
    assert requirement.replace(" ", "") == "h2>=4.3,<5", requirement
