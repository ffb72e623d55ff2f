"""``AcquireParams``: what an SDK-style block's ``acquire`` receives (partial, unresolved, raw)."""

from __future__ import annotations

from neops_worker.blocks.base import AcquireParams

__all__ = ["AcquireParams"]
