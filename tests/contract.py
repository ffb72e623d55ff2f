"""Contract checks: bodies validated against the protocol's JSON Schemas (copied into tests/schemas)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_DIR = Path(__file__).parent / "schemas"

#: Fields the engine's OpenAPI document marks nullable in bodies the worker sends (README of the schemas).
NULLABLE_SENT = frozenset({"value"})


@cache
def validator(dto: str) -> Draft202012Validator:
    """A validator for ``<dto>.schema.json``."""
    schema = json.loads((SCHEMA_DIR / f"{dto}.schema.json").read_text())
    return Draft202012Validator(schema)


def assert_valid(dto: str, body: Any) -> None:
    """Fail with every schema error of ``body`` against ``dto``."""
    errors = sorted(validator(dto).iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{dto} body invalid: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors
    )


def nulls_outside_nullable(body: Any, path: str = "") -> list[str]:
    """Paths of ``null`` values in a sent body other than the nullable fields (optional means omitted)."""
    found: list[str] = []
    if isinstance(body, dict):
        for key, value in body.items():
            here = f"{path}/{key}"
            if value is None and key not in NULLABLE_SENT:
                found.append(here)
            elif key not in ("data", "value", "parameterJsonSchema", "resultDataJsonSchema"):
                found.extend(nulls_outside_nullable(value, here))
    elif isinstance(body, list):
        for index, item in enumerate(body):
            found.extend(nulls_outside_nullable(item, f"{path}/{index}"))
    return found


def assert_sent_body(dto: str, body: Any) -> None:
    """A request body the worker sends: schema-valid and no ``null`` where the field should be omitted."""
    assert_valid(dto, body)
    nulls = nulls_outside_nullable(body)
    assert not nulls, f"{dto} body sends null for optional fields (omit them instead): {nulls}"
