"""The one table from the vendor SDK's import paths to ours, read by ``neops_worker port`` and the guide.

Every module of the SDK (and of the engine client) that a function block imports from is listed
with the module of :mod:`neops_worker.sdk` that replaces it and the names that module provides,
under the same names. A name that is not listed has no equivalent here and is left for a person
to port. The SDK's connection layer (``neops_worker_sdk.connection``) is left alone: it needs the
SDK itself, installed beside this project. This module imports nothing, so reading the table is
cheap.
"""

from __future__ import annotations

import re

SDK_PACKAGE = "neops_worker_sdk"
ENGINE_CLIENT_PACKAGE = "neops_workflow_engine_client"
#: Imports from these SDK modules (and their submodules) stay as they are: they need the SDK installed.
KEPT_MODULES = ("neops_worker_sdk.connection",)

_FUNCTION_BLOCK_NAMES = (
    "EntityAcquire",
    "FunctionBlock",
    "FunctionBlockAcquireResult",
    "FunctionBlockParams",
    "FunctionBlockResult",
    "FunctionBlockResultData",
    "FunctionBlockRollbackResult",
    "ParamsT",
    "ResultDataT",
)
_ENTITY_NAMES = (
    "Device",
    "DeviceField",
    "DeviceGroup",
    "DeviceReference",
    "GroupField",
    "Interface",
    "InterfaceField",
    "Platform",
)
_DB_UPDATE_NAMES = (
    "EXCLUDED_FIELDS",
    "DbUpdateDto",
    "EntityType",
    "generate_db_updates",
    "generate_temporary_id",
)
_WORKFLOW_NAMES = (
    "DbUpdateDto",
    "Device",
    "DeviceField",
    "DeviceGroup",
    "EntityType",
    "GroupField",
    "Interface",
    "InterfaceField",
    "WorkflowContext",
    "generate_db_updates",
    "generate_temporary_id",
)
#: The engine client's DTOs that blocks import, each the worker's own model under the client's name.
ENGINE_CLIENT_NAMES = (
    "BaseEntityDto",
    "DeviceGroupTypeDto",
    "DeviceTypeDto",
    "EntityAcquireByElasticQuery",
    "EntityAcquireContext",
    "EntityCreateDto",
    "EntityDeleteDto",
    "EntityPatchDto",
    "EntityReferenceDto",
    "InterfaceTypeDto",
    "JobExecutionContextDto",
    "JobExecutionResultDbUpdatesDto",
    "PlatformTypeDto",
)
_ENGINE_CLIENT = "neops_worker.sdk.engine_client"

#: SDK module -> (our module, the names it provides under the same names).
SDK_MODULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "neops_worker_sdk.function_block.function_block": (
        "neops_worker.sdk.function_block.function_block",
        _FUNCTION_BLOCK_NAMES,
    ),
    "neops_worker_sdk.function_block.acquire_params": (
        "neops_worker.sdk.function_block.acquire_params",
        ("AcquireParams",),
    ),
    "neops_worker_sdk.function_block.engine_schema": (
        "neops_worker.sdk.function_block.engine_schema",
        ("ENGINE_SCHEMA_CONFIG", "EngineSchemaFunctionBlockParams", "remove_schema_defaults"),
    ),
    "neops_worker_sdk.registry": ("neops_worker.sdk.registry", ("Registry", "registry")),
    "neops_worker_sdk.registry.registry": ("neops_worker.sdk.registry.registry", ("Registry",)),
    "neops_worker_sdk.registry.decorator": (
        "neops_worker.sdk.registry.decorator",
        ("register_function_block",),
    ),
    "neops_worker_sdk.registry.registration": ("neops_worker.sdk.registry.registration", ("Registration",)),
    "neops_worker_sdk.workflow": ("neops_worker.sdk.workflow", _WORKFLOW_NAMES),
    "neops_worker_sdk.workflow.workflow_context": (
        "neops_worker.sdk.workflow.workflow_context",
        ("WorkflowContext",),
    ),
    "neops_worker_sdk.workflow.entities": ("neops_worker.sdk.workflow.entities", _ENTITY_NAMES),
    "neops_worker_sdk.workflow.db_updates": ("neops_worker.sdk.workflow.db_updates", _DB_UPDATE_NAMES),
    "neops_worker_sdk.testing.factories.context_factory": (
        "neops_worker.sdk.testing.factories.context_factory",
        ("create_workflow_context",),
    ),
    "neops_worker_sdk.testing.base.function_block_test_case": (
        "neops_worker.sdk.testing.base.function_block_test_case",
        ("FunctionBlockTestCase", "create_safe_test_id", "fb_test_case", "fb_test_case_with_lab"),
    ),
    "neops_worker_sdk.testing.devices.base_mock_device": (
        "neops_worker.sdk.testing.devices.base_mock_device",
        ("BaseMockDevice",),
    ),
    "neops_worker_sdk.testing.devices.remote_lab_device": (
        "neops_worker.sdk.testing.devices.remote_lab_device",
        ("RemoteLabDevice",),
    ),
    "neops_worker_sdk.concurrency": (
        "neops_worker.sdk.concurrency",
        ("run_in_thread", "run_parallel", "schedule_task"),
    ),
    "neops_worker_sdk.concurrency.run_in_thread": (
        "neops_worker.sdk.concurrency.run_in_thread",
        ("run_in_thread",),
    ),
    "neops_worker_sdk.concurrency.run_parallel": (
        "neops_worker.sdk.concurrency.run_parallel",
        ("run_parallel",),
    ),
    "neops_worker_sdk.concurrency.tasks": ("neops_worker.sdk.concurrency.tasks", ("schedule_task",)),
    "neops_worker_sdk.logger": (
        "neops_worker.sdk.logger",
        ("BaseLogger", "ContextualLogger", "Logger", "logger_for"),
    ),
    "neops_worker_sdk.logger.base": ("neops_worker.sdk.logger.base", ("BaseLogger", "ContextualLogger")),
    "neops_worker_sdk.logger.logger": ("neops_worker.sdk.logger.logger", ("Logger",)),
    "neops_worker_sdk.logger.redaction": (
        "neops_worker.sdk.logger.redaction",
        (
            "DEFAULT_KEY_PARTS",
            "REDACT_EXTRA_KEYS_ENV",
            "Redactor",
            "SENSITIVE",
            "Sensitive",
            "default_redactor",
        ),
    ),
    "neops_workflow_engine_client": (_ENGINE_CLIENT, ENGINE_CLIENT_NAMES),
    "neops_workflow_engine_client.models": (_ENGINE_CLIENT, ENGINE_CLIENT_NAMES),
    # The generated client also has one module per model: models.device_type_dto -> DeviceTypeDto.
    **{
        f"neops_workflow_engine_client.models.{re.sub(r'(?<!^)(?=[A-Z])', '_', name).lower()}": (
            _ENGINE_CLIENT,
            (name,),
        )
        for name in ENGINE_CLIENT_NAMES
    },
}


def is_sdk_module(module: str) -> bool:
    """Whether ``module`` belongs to the vendor SDK or to the engine client."""
    return any(
        module == root or module.startswith(f"{root}.") for root in (SDK_PACKAGE, ENGINE_CLIENT_PACKAGE)
    )


def is_kept(module: str) -> bool:
    """Whether imports from ``module`` stay as they are (the SDK's connection layer)."""
    return any(module == kept or module.startswith(f"{kept}.") for kept in KEPT_MODULES)


def our_module(module: str) -> str | None:
    """The module that replaces the SDK module ``module``, if there is one."""
    entry = SDK_MODULES.get(module)
    return entry[0] if entry else None


def provides(module: str, name: str) -> bool:
    """Whether our replacement of ``module`` provides ``name``."""
    entry = SDK_MODULES.get(module)
    return entry is not None and name in entry[1]


def target_of(module: str, name: str) -> str | None:
    """The module to import ``name`` from in place of the SDK's ``module``, if there is one.

    ``name`` is either provided by the module replacing ``module`` or, in ``from package import
    submodule``, a mapped submodule whose replacement has the same name.
    """
    ours = our_module(module)
    if ours is not None and provides(module, name):
        return ours
    submodule = our_module(f"{module}.{name}")
    if submodule is not None and submodule.rpartition(".")[2] == name:
        return submodule.rpartition(".")[0]
    return None


def markdown_table() -> str:
    """The table as the porting guide shows it: one row per SDK module."""
    rows = ["| SDK import path | `neops_worker` import path | names |", "|---|---|---|"]
    for sdk, (ours, names) in SDK_MODULES.items():
        if sdk.startswith(f"{ENGINE_CLIENT_PACKAGE}.models."):
            continue
        rows.append(f"| `{sdk}` | `{ours}` | {', '.join(f'`{name}`' for name in names)} |")
    rows.append(
        f"| `{ENGINE_CLIENT_PACKAGE}.models.<model>` (e.g. `.device_type_dto`) | `{_ENGINE_CLIENT}` | "
        "the model's own name, from the engine client's list above |"
    )
    return "\n".join(rows)


__all__ = [
    "ENGINE_CLIENT_NAMES",
    "ENGINE_CLIENT_PACKAGE",
    "KEPT_MODULES",
    "SDK_MODULES",
    "SDK_PACKAGE",
    "is_kept",
    "is_sdk_module",
    "markdown_table",
    "our_module",
    "provides",
    "target_of",
]
