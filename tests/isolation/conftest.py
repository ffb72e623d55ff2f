"""The integration fixtures (a recording local engine, real worker processes) for the isolation tests."""

from tests.integration.conftest import engine, start_worker

__all__ = ["engine", "start_worker"]
