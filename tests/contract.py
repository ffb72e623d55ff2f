"""Contract checks: bodies validated against the protocol's JSON Schemas (copied into tests/schemas).

``tests/schemas/`` holds the current contract (client 0.43.0b8) and ``tests/schemas/0.42.1/`` the
previous one, both copied unchanged from the protocol. A request the worker sends validates against
both, less the fields the worker sends only to engines that know them (contract section 10).
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SCHEMA_DIR = Path(__file__).parent / "schemas"
#: The schema folder of each engine generation: the current contract, and 0.42.1.
CURRENT = "0.43.0b8"
PREVIOUS = "0.42.1"
GENERATION_DIRS = {CURRENT: SCHEMA_DIR, PREVIOUS: SCHEMA_DIR / PREVIOUS}
#: Request fields a 0.42.1 engine does not know (sent only to engines that do), as key paths.
GATED_FIELDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "RegisterFunctionBlockDto": (("reversible",),),
    "JobResultDto": (("result", "retryable"),),
    "JobExecutionResultDto": (("retryable",),),
}

#: Fields the engine's OpenAPI document marks nullable in bodies the worker sends (README of the schemas).
NULLABLE_SENT = frozenset({"value"})


@cache
def validator(dto: str, generation: str = CURRENT) -> Draft202012Validator:
    """A validator for ``<dto>.schema.json`` of an engine ``generation`` (the current one by default)."""
    schema = json.loads((GENERATION_DIRS[generation] / f"{dto}.schema.json").read_text())
    return Draft202012Validator(schema)


def assert_valid(dto: str, body: Any, generation: str = CURRENT) -> None:
    """Fail with every schema error of ``body`` against ``dto`` of ``generation``."""
    errors = sorted(validator(dto, generation).iter_errors(body), key=lambda e: list(e.absolute_path))
    assert not errors, f"{dto} ({generation}) body invalid: " + "; ".join(
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}" for e in errors
    )


def without_gated(dto: str, body: Any) -> Any:
    """``body`` as a 0.42.1 engine would be sent it: the fields it does not know left out."""
    if not isinstance(body, dict) or dto not in GATED_FIELDS:
        return body
    trimmed = copy.deepcopy(body)
    for path in GATED_FIELDS[dto]:
        holder: Any = trimmed
        for key in path[:-1]:
            holder = holder.get(key) if isinstance(holder, dict) else None
        if isinstance(holder, dict):
            holder.pop(path[-1], None)
    return trimmed


def assert_valid_for_both(dto: str, body: Any) -> None:
    """Valid for a current engine, and for a 0.42.1 engine without the fields gated for it."""
    assert_valid(dto, body, CURRENT)
    assert_valid(dto, without_gated(dto, body), PREVIOUS)


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
    """A request body the worker sends: valid for both generations, no ``null`` where it should be omitted."""
    assert_valid_for_both(dto, body)
    nulls = nulls_outside_nullable(body)
    assert not nulls, f"{dto} body sends null for optional fields (omit them instead): {nulls}"
