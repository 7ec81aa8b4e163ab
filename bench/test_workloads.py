"""End-to-end workloads A-F, gorums_h2 beside grpclib and grpcio (asyncio) and
purerpc (trio); servers in separate processes. See benchlib.workloads."""

from __future__ import annotations

from typing import Any

import pytest
from benchlib.runner import IMPLS, make_runner
from benchlib.workloads import F_PAYLOADS, F_SIZES, WORKLOADS
from conftest import Pools, measure, quick

IDS = [f"{impl}-{backend}" for impl, backend in IMPLS]


def _run(benchmark: Any, pools: Pools, rounds: int, workload: str, impl: str,
         backend: str) -> None:
    w = WORKLOADS[workload]
    addresses = pools.get(impl, backend, max(w.nodes, 3))
    runner = make_runner(impl, backend, addresses)
    try:
        measure(benchmark, runner, workload, rounds)
    finally:
        runner.close()


@pytest.mark.parametrize("workload", ["A", "B", "C", "D", "E4k", "E64k"])
@pytest.mark.parametrize(("impl", "backend"), IMPLS, ids=IDS)
def test_workload(benchmark: Any, pools: Pools, rounds: int, workload: str, impl: str,
                  backend: str) -> None:
    _run(benchmark, pools, rounds, workload, impl, backend)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scaling" in metafunc.fixturenames:
        sizes = (3, 9, 17) if quick(metafunc.config) else F_SIZES
        payloads = (16, 16 * 1024, 1024 * 1024) if quick(metafunc.config) else F_PAYLOADS
        names = [f"F{n}" for n in sizes]
        names += [f"Fp{p // 1024}k" if p >= 1024 else f"Fp{p}" for p in payloads]
        metafunc.parametrize("scaling", names)


@pytest.mark.parametrize(("impl", "backend"), IMPLS, ids=IDS)
def test_scaling(benchmark: Any, pools: Pools, rounds: int, scaling: str, impl: str,
                 backend: str) -> None:
    _run(benchmark, pools, rounds, scaling, impl, backend)
