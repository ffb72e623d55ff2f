"""``@register_function_block``: the native decorator (the block is checked when it is declared)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from neops_worker.blocks.registration import Registration
from neops_worker.blocks.registration import register_function_block as _register

AnyFunctionBlock = TypeVar("AnyFunctionBlock", bound=type[Any])


def register_function_block(reg: Registration) -> Callable[[AnyFunctionBlock], AnyFunctionBlock]:
    """Class decorator: register an SDK-style (or native) block with ``reg``, checked at once."""
    return _register(reg)


__all__ = ["register_function_block"]
