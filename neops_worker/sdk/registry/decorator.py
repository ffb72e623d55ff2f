"""``@register_function_block``: the native decorator (the block is checked when it is declared)."""

from __future__ import annotations

from neops_worker.blocks.registration import register_function_block

__all__ = ["register_function_block"]
