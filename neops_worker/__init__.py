"""neops_worker: the worker daemon of the neops 2.0 workflow engine.

This module is the function-block author's surface; the daemon itself is started with the
``neops_worker`` command. The names are imported when first used, so the daemon (which only needs
``__version__``) never loads the authoring API: a worker with job processes imports no block code
and none of the models blocks are written with.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neops_worker.blocks.base import (
        FunctionBlock,
        FunctionBlockAcquireResult,
        FunctionBlockParams,
        FunctionBlockResult,
        FunctionBlockResultData,
        FunctionBlockRollbackResult,
        PermanentFailure,
    )
    from neops_worker.blocks.context import WorkflowContext
    from neops_worker.blocks.entities import Device, DeviceGroup, Interface
    from neops_worker.blocks.meta import JobMeta
    from neops_worker.blocks.registration import Registration, register_function_block
    from neops_worker.blocks.sensitive import Sensitive
    from neops_worker.engine.wire import AcquireByElasticQuery, AcquireFromContext

__version__ = "1.0.0"

#: Public name -> the module that defines it.
_HOMES = {
    "AcquireByElasticQuery": "neops_worker.engine.wire",
    "AcquireFromContext": "neops_worker.engine.wire",
    "Device": "neops_worker.blocks.entities",
    "DeviceGroup": "neops_worker.blocks.entities",
    "FunctionBlock": "neops_worker.blocks.base",
    "FunctionBlockAcquireResult": "neops_worker.blocks.base",
    "FunctionBlockParams": "neops_worker.blocks.base",
    "FunctionBlockResult": "neops_worker.blocks.base",
    "FunctionBlockResultData": "neops_worker.blocks.base",
    "FunctionBlockRollbackResult": "neops_worker.blocks.base",
    "Interface": "neops_worker.blocks.entities",
    "JobMeta": "neops_worker.blocks.meta",
    "PermanentFailure": "neops_worker.blocks.base",
    "Registration": "neops_worker.blocks.registration",
    "Sensitive": "neops_worker.blocks.sensitive",
    "WorkflowContext": "neops_worker.blocks.context",
    "register_function_block": "neops_worker.blocks.registration",
}


def __getattr__(name: str) -> Any:
    """Import a public name from its home on first use."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'neops_worker' has no attribute {name!r}")
    value = getattr(import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})


__all__ = [
    "AcquireByElasticQuery",
    "AcquireFromContext",
    "Device",
    "DeviceGroup",
    "FunctionBlock",
    "FunctionBlockAcquireResult",
    "FunctionBlockParams",
    "FunctionBlockResult",
    "FunctionBlockResultData",
    "FunctionBlockRollbackResult",
    "Interface",
    "JobMeta",
    "PermanentFailure",
    "Registration",
    "Sensitive",
    "WorkflowContext",
    "__version__",
    "register_function_block",
]
