"""The vendor SDK's ``Registry``: every registered block by id, with its registration and body."""

from __future__ import annotations

from typing import Any

from neops_worker.blocks import registration as native
from neops_worker.blocks.base import FunctionBlock
from neops_worker.engine.wire import RegisterFunctionBlock
from neops_worker.registry import registration_body
from neops_worker.sdk.registry.registration import Registration

#: A block class (SDK-style or native), its registration, its registration body.
RegistryEntry = tuple[type[Any], Registration, RegisterFunctionBlock]


class Registry:
    """The blocks registered so far (in modules imported in this process), looked up by id."""

    @property
    def function_blocks(self) -> dict[str, RegistryEntry]:
        """``id -> (block class, registration, RegisterFunctionBlockDto)``; the first declaration wins."""
        from neops_worker.testing import imported_blocks

        entries: dict[str, RegistryEntry] = {}
        for block in imported_blocks():
            body = registration_body(block, None)
            entries.setdefault(block.fb_id, (block.cls, _as_sdk(block.registration), body))
        return entries

    def register(self, cls: type[FunctionBlock[Any, Any]], registration: native.Registration) -> None:
        """Register ``cls``, as ``@register_function_block(registration)`` does."""
        native.register_function_block(registration)(cls)


def _as_sdk(registration: native.Registration) -> Registration:
    """A block's registration with the SDK's properties (a native block's is converted)."""
    if isinstance(registration, Registration):
        return registration
    return Registration(**{name: getattr(registration, name) for name in native.Registration.model_fields})


__all__ = ["Registry"]
