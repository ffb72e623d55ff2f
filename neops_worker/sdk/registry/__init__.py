"""The vendor SDK's ``registry``: the process-wide ``Registry`` of the blocks declared so far."""

from __future__ import annotations

from neops_worker.sdk.registry.registry import Registry

#: Every block registered in this process, by id: ``registry.function_blocks[id]``.
registry: Registry = Registry()

__all__ = ["Registry", "registry"]
