"""The vendor SDK's ``Registry``: every registered block by id, with its registration and body."""

from __future__ import annotations

from typing import Any

from neops_worker.blocks.base import FunctionBlock
from neops_worker.blocks.registration import Registration, register_function_block
from neops_worker.registry import registration_body
from neops_worker.wire import RegisterFunctionBlock

RegistryEntry = tuple[type[FunctionBlock[Any, Any]], Registration, RegisterFunctionBlock]


class Registry:
    """The blocks registered so far (in modules imported in this process), looked up by id."""

    @property
    def function_blocks(self) -> dict[str, RegistryEntry]:
        """``id -> (block class, registration, RegisterFunctionBlockDto)``; the first declaration wins."""
        from neops_worker.testing import imported_blocks

        entries: dict[str, RegistryEntry] = {}
        for block in imported_blocks():
            body = registration_body(block, None, send_reversible=True)
            entries.setdefault(block.fb_id, (block.cls, block.registration, body))
        return entries

    def register(self, cls: type[FunctionBlock[Any, Any]], registration: Registration) -> None:
        """Register ``cls``, as ``@register_function_block(registration)`` does."""
        register_function_block(registration)(cls)


__all__ = ["Registry"]
