"""Benchmarks and load/soak runs of the worker and the local engine (run on demand, not in CI)."""
