"""Shared code of the benchmarks in bench/ (see docs/performance.md)."""
