"""``Registration`` and ``@register_function_block``: a block's identity and metadata, checked at once."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import json
import typing
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

from neops_worker.blocks.base import FunctionBlock, FunctionBlockParams, FunctionBlockResultData
from neops_worker.wire import FB_PART_PATTERN, FbType, RunOn

RUN_ON_VALUES: tuple[str, ...] = typing.get_args(RunOn)
FB_TYPE_VALUES: tuple[str, ...] = typing.get_args(FbType)


class FunctionBlockDefinitionError(ValueError):
    """A block's registration is invalid; ``problems`` lists every reason, ``source`` the declaration."""

    def __init__(self, where: str, problems: list[str], source: tuple[str, int] | None = None) -> None:
        self.where = where
        self.problems = problems
        self.source = source
        super().__init__(f"{where}: " + "; ".join(problems))


#: Set while discovery imports one file: that file's invalid blocks are collected, not raised.
_collecting: contextvars.ContextVar[tuple[Path, list[FunctionBlockDefinitionError]] | None] = (
    contextvars.ContextVar("neops_worker_collecting_definition_errors", default=None)
)


@contextlib.contextmanager
def collect_definition_errors(file: Path) -> Iterator[list[FunctionBlockDefinitionError]]:
    """Collect the definition errors of blocks declared in ``file`` instead of raising the first.

    Lets discovery report every invalid block of a module in one run. Blocks declared in other
    files (imported from ``file``) still raise, so their importer fails as it always did.
    """
    errors: list[FunctionBlockDefinitionError] = []
    token = _collecting.set((file.resolve(), errors))
    try:
        yield errors
    finally:
        _collecting.reset(token)


def _raise_or_collect(error: FunctionBlockDefinitionError) -> None:
    collecting = _collecting.get()
    if collecting is None or error.source is None or Path(error.source[0]).resolve() != collecting[0]:
        raise error
    collecting[1].append(error)


class Registration(BaseModel):
    """A block's identity and metadata, as published to the engine at registration."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str
    description: str
    package: str
    run_on: str = "global"
    fb_type: str = "execute"
    param_cls: type[BaseModel] | None = None
    result_cls: type[BaseModel] | None = None
    version: tuple[int, int, int] = (1, 0, 0)
    markdown_helptext: str | None = None
    deprecated: bool = False
    is_idempotent: bool = False
    is_pure: bool = False
    reversible: bool = False
    #: Where the block was declared (module file, line), filled in by the decorator.
    source: tuple[str, int] | None = Field(default=None, exclude=True)

    @property
    def fb_id(self) -> str:
        """The string id ``package/name:major.minor.patch`` jobs carry."""
        major, minor, patch = self.version
        return f"{self.package}/{self.name}:{major}.{minor}.{patch}"

    def parameter_json_schema(self) -> dict[str, Any]:
        """The JSON Schema of the job parameters, as sent at registration (no top-level title)."""
        return _schema_without_title(self.param_cls or FunctionBlockParams)

    def result_data_json_schema(self) -> dict[str, Any]:
        """The JSON Schema of ``result.data``, closed to unknown keys, as sent at registration."""
        schema = _schema_without_title(self.result_cls or FunctionBlockResultData)
        schema["additionalProperties"] = False
        return schema

    def problems(self) -> list[str]:
        """Every reason this registration would be rejected or unusable; empty when valid."""
        found: list[str] = []
        for field in ("package", "name"):
            value = getattr(self, field)
            if not value or not FB_PART_PATTERN.match(value):
                found.append(f"{field} {value!r} must be non-empty and contain no '/', ':' or '-'")
        if len(self.version) != 3 or any(part < 0 for part in self.version):
            found.append(f"version {self.version!r} must be three whole numbers >= 0")
        if self.run_on not in RUN_ON_VALUES:
            found.append(f"run_on {self.run_on!r} must be one of {', '.join(RUN_ON_VALUES)}")
        if self.fb_type not in FB_TYPE_VALUES:
            found.append(f"fb_type {self.fb_type!r} must be one of {', '.join(FB_TYPE_VALUES)}")
        if not self.description.strip():
            found.append("description must not be empty")
        found.extend(self._model_problems())
        return found

    def _model_problems(self) -> list[str]:
        found: list[str] = []
        for label, cls in (("param_cls", self.param_cls), ("result_cls", self.result_cls)):
            if cls is None:
                found.append(f"{label} is not set and cannot be inferred from FunctionBlock[P, R]")
                continue
            try:
                _json_schema(cls)
            except Exception as exc:
                found.append(f"{label} {cls.__name__} has no JSON Schema: {type(exc).__name__}: {exc}")
        return found


def _schema_without_title(model: type[BaseModel]) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(_json_schema(model))  # a fresh copy: callers change it
    schema.pop("title", None)
    return schema


@functools.cache
def _json_schema(model: type[BaseModel]) -> str:
    """A model's JSON Schema, generated once (checked at declaration, sent at registration)."""
    return json.dumps(model.model_json_schema())


BlockClass = TypeVar("BlockClass", bound=type[FunctionBlock[Any, Any]])


def infer_models(cls: type) -> tuple[type[BaseModel] | None, type[BaseModel] | None]:
    """The ``P`` and ``R`` of ``class X(FunctionBlock[P, R])``, searching the class's bases."""
    for klass in inspect.getmro(cls):
        for base in getattr(klass, "__orig_bases__", ()):
            origin = get_origin(base)
            if isinstance(origin, type) and issubclass(origin, FunctionBlock):
                args = get_args(base)
                if len(args) == 2 and all(isinstance(a, type) for a in args):
                    return args[0], args[1]
    return None, None


def register_function_block(registration: Registration) -> Callable[[BlockClass], BlockClass]:
    """Class decorator: attach ``registration`` to a ``FunctionBlock`` subclass, checked at once."""

    def decorate(cls: BlockClass) -> BlockClass:
        where = f"{cls.__module__}.{cls.__qualname__}"
        if not (isinstance(cls, type) and issubclass(cls, FunctionBlock)):
            raise FunctionBlockDefinitionError(
                where, ["@register_function_block decorates FunctionBlock classes"]
            )
        param_cls, result_cls = infer_models(cls)
        complete = registration.model_copy(
            update={
                "param_cls": registration.param_cls or param_cls,
                "result_cls": registration.result_cls or result_cls,
                "source": _source_of(cls),
            }
        )
        problems = complete.problems() + _unimplemented(cls)
        if problems:
            _raise_or_collect(
                FunctionBlockDefinitionError(f"{where} ({complete.fb_id})", problems, complete.source)
            )
            return cls
        cls.registration = complete
        return cls

    return decorate


def _unimplemented(cls: type) -> list[str]:
    """An abstract block class (an SDK-style block lacking ``run`` or ``acquire``) cannot run a job."""
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    return [f"the class does not implement {', '.join(f'{name}()' for name in missing)}"] if missing else []


def _source_of(cls: type) -> tuple[str, int] | None:
    try:
        return inspect.getsourcefile(cls) or "?", inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return None
