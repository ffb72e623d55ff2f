"""``EngineSchemaFunctionBlockParams``: parameters whose published JSON Schema carries no defaults.

The engine's validator writes a schema's defaults into the job parameters, so a published
``"default": null`` turns a field a workflow left out (to be filled in later) into an explicit
``null``. Parameters based on this class publish their schema without any ``default``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict

from neops_worker.blocks.base import FunctionBlockParams


def remove_schema_defaults(schema: Any) -> None:
    """Delete every ``default`` key of a JSON Schema, at any depth, in place."""
    if isinstance(schema, dict):
        schema.pop("default", None)
        children: Any = schema.values()
    elif isinstance(schema, list):
        children = schema
    else:
        return
    for child in children:
        remove_schema_defaults(child)


#: The model configuration that publishes a schema without defaults.
ENGINE_SCHEMA_CONFIG = ConfigDict(json_schema_extra=remove_schema_defaults)


class EngineSchemaFunctionBlockParams(FunctionBlockParams):
    """Block parameters whose published JSON Schema has its defaults removed."""

    model_config = ENGINE_SCHEMA_CONFIG


__all__ = ["ENGINE_SCHEMA_CONFIG", "EngineSchemaFunctionBlockParams", "remove_schema_defaults"]
