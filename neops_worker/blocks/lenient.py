"""Lenient parsing of an acquire job's parameters: what the engine could resolve, and what not.

At acquire time the engine has run no step yet, so parameters that come from earlier results or
from the context are absent or ``null``. Validating them strictly would fail the job and the
workflow with it. Here every field that is missing, ``null`` (unless the field admits ``null``)
or invalid keeps its default, ``None`` for a required field, and is named in ``unresolved``; a
missing field that has a default simply has it and counts as resolved.
"""

from __future__ import annotations

import functools
import types
import typing
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError, create_model
from pydantic.fields import FieldInfo

M = TypeVar("M", bound=BaseModel)


def parse_leniently(model: type[M], raw: dict[str, Any]) -> tuple[M, frozenset[str]]:
    """``raw`` as an instance of ``model`` that never fails, and the fields it could not resolve."""
    payload = {name: value for name, value in raw.items() if _usable(model, name, value)}
    rejected: set[str] = set()
    parsed = _validated(_partial_model(model), payload)
    while isinstance(parsed, set):
        if not parsed:
            # A validator of the model as a whole rejected what is left: nothing can be trusted.
            return _partial_model(model).model_construct(), frozenset(model.model_fields)
        rejected |= parsed
        payload = {name: value for name, value in payload.items() if name not in parsed}
        parsed = _validated(_partial_model(model), payload)
    required = {name for name, info in model.model_fields.items() if info.is_required()}
    return parsed, frozenset(rejected | (required - payload.keys()))


def _validated(model: type[M], payload: dict[str, Any]) -> M | set[str]:
    """The validated model, or the top-level fields whose values failed."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        return {str(error["loc"][0]) for error in exc.errors() if error["loc"]} & payload.keys()


def _usable(model: type[BaseModel], name: str, value: Any) -> bool:
    """A declared field with a value; ``null`` counts only where the field admits it."""
    info = model.model_fields.get(name)
    return info is not None and (value is not None or _admits_none(info.annotation))


def _admits_none(annotation: Any) -> bool:
    while type(annotation).__name__ == "TypeAliasType":  # a ``type X = ...`` alias (Python 3.12+)
        annotation = annotation.__value__
    if annotation is None or annotation is type(None) or annotation is Any:
        return True
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _admits_none(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return any(_admits_none(arg) for arg in typing.get_args(annotation))
    return False


@functools.cache
def _partial_model(model: type[M]) -> type[M]:
    """A subclass of ``model`` whose required fields default to ``None`` (never validated)."""
    fields: dict[str, Any] = {
        name: (info.annotation, FieldInfo.merge_field_infos(info, default=None, validate_default=False))
        for name, info in model.model_fields.items()
        if info.is_required()
    }
    if not fields:
        return model
    partial: type[M] = create_model(model.__name__, __base__=model, __module__=model.__module__, **fields)
    return partial
