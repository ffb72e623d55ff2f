"""Whether a job's parameters fit its block's registered ``parameterJsonSchema``, before ``submit`` sends it.

A light check of the top level only, so it needs no JSON Schema library (jsonschema is a development
dependency): unknown keys when the schema is closed (``additionalProperties: false``, or it lists
``properties`` and does not allow others), missing ``required`` keys, and values whose JSON type or
``enum`` the property rules out. Nested objects, ``$ref`` and bounds are left to the worker, which
validates the job again with the block's own model.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

#: JSON Schema's types, as a sentence names them.
_TYPE_NAMES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean",
    "array": "an array",
    "object": "an object",
    "null": "null",
}


def parameter_problems(schema: Mapping[str, Any], parameters: Mapping[str, Any], job_type: str) -> list[str]:
    """What in ``parameters`` the schema rules out, one phrase each; empty when nothing is seen wrong.

    Acquire jobs may leave parameters unresolved (the worker fills them in), so their missing required
    keys are not problems.
    """
    properties: Mapping[str, Any] = schema.get("properties") or {}
    extra = schema.get("additionalProperties")
    closed = extra is False or (extra is None and bool(properties))
    problems = [_unknown(key, properties) for key in parameters if closed and key not in properties]
    if job_type != "acquire":
        problems += [
            f"missing required {key!r}" for key in schema.get("required") or [] if key not in parameters
        ]
    for key, value in parameters.items():
        rules = properties.get(key)
        found = _value_problem(key, value, rules) if isinstance(rules, Mapping) else None
        if found:
            problems.append(found)
    return problems


def _unknown(key: str, properties: Mapping[str, Any]) -> str:
    """``unknown 'mesage' (did you mean 'message'?)``."""
    near = difflib.get_close_matches(key, list(properties), n=1, cutoff=0.6)
    return f"unknown {key!r}" + (f" (did you mean {near[0]!r}?)" if near else "")


def _value_problem(key: str, value: Any, rules: Mapping[str, Any]) -> str | None:
    """Why the property's ``enum``, ``const`` or ``type`` rules ``value`` out; None when they do not."""
    choices = rules["enum"] if isinstance(rules.get("enum"), list) else None
    if "const" in rules:
        choices = [rules["const"]]
    if choices is not None and not any(_same(value, choice) for choice in choices):
        listed = ", ".join(json.dumps(choice) for choice in choices)
        return f"{key!r} must be one of {listed}, not {json.dumps(value)}"
    types = _types(rules)
    if types is None or any(_is_type(value, name) for name in types):
        return None
    expected = " or ".join(_TYPE_NAMES.get(name, name) for name in types)
    problem = f"{key!r} must be {expected}, not {_kind(value)} ({json.dumps(value)})"
    if "string" in types and isinstance(value, int | float):
        problem += f"; quote it to send text: -p '{key}=\"{json.dumps(value)}\"'"
    return problem


def _types(rules: Mapping[str, Any]) -> list[str] | None:
    """The JSON types a property allows (``type``, or every branch of ``anyOf``/``oneOf``); None: unknown."""
    given = rules.get("type")
    if isinstance(given, str):
        return [given]
    if isinstance(given, list):
        return [name for name in given if isinstance(name, str)]
    branches = rules.get("anyOf") or rules.get("oneOf")
    if not isinstance(branches, list) or not branches:
        return None
    types: list[str] = []
    for branch in branches:
        found = _types(branch) if isinstance(branch, Mapping) else None
        if found is None:
            return None  # a $ref or a schema without a type: anything may fit
        types += [name for name in found if name not in types]
    return types


def _is_type(value: Any, name: str) -> bool:
    """Whether ``value`` (parsed JSON) is of the JSON Schema type ``name``; unknown names allow anything."""
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    checks: dict[str, bool] = {
        "string": isinstance(value, str),
        "integer": isinstance(value, int) or (isinstance(value, float) and value.is_integer()),
        "number": isinstance(value, int | float),
        "boolean": isinstance(value, bool),
        "array": isinstance(value, list),
        "object": isinstance(value, dict),
        "null": value is None,
    }
    return checks.get(name, True)


def _same(value: Any, choice: Any) -> bool:
    """JSON equality: ``true`` is not ``1`` (Python's ``True == 1`` is)."""
    if isinstance(value, bool) or isinstance(choice, bool):
        return value is choice
    return bool(value == choice)


def _kind(value: Any) -> str:
    """The JSON type of ``value``, as a sentence names it."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    for kind, name in ((float, "a number"), (str, "a string"), (list, "an array"), (dict, "an object")):
        if isinstance(value, kind):
            return name
    return "null"


__all__ = ["parameter_problems"]
