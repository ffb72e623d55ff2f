"""The testing kit's fixture, imported so that every test here can ask for ``block_runner``."""

from neops_worker.testing import block_runner

__all__ = ["block_runner"]
