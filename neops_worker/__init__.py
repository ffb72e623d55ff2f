"""neops_worker: the worker daemon of the neops 2.0 workflow engine.

This module is the function-block author's surface; the daemon itself is started with the
``neops_worker`` command.
"""

from neops_worker.blocks.base import (
    FunctionBlock,
    FunctionBlockAcquireResult,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    FunctionBlockRollbackResult,
)
from neops_worker.blocks.context import WorkflowContext
from neops_worker.blocks.entities import Device, DeviceGroup, Interface
from neops_worker.blocks.registration import Registration, register_function_block
from neops_worker.wire import AcquireByElasticQuery, AcquireFromContext

__version__ = "1.0.0"

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
    "Registration",
    "WorkflowContext",
    "__version__",
    "register_function_block",
]
