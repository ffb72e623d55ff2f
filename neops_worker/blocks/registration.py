"""``Registration`` and ``@register_function_block``: a block's identity and metadata, checked at once."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import json
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field

from neops_worker.blocks.base import FunctionBlock, FunctionBlockParams, FunctionBlockResultData
from neops_worker.blocks.calls import BlockCalls
from neops_worker.engine.wire import (
    FB_PART_PATTERN,
    FB_TYPE_VALUES,
    RUN_ON_VALUES,
    FbType,
    RunOn,
    format_fb_id,
)

if TYPE_CHECKING:
    # A type checker holds a declaration to the engine's values (``run_on="devise"`` is an error);
    # at run time any text is accepted, so that ``problems()`` names a bad value beside the others.
    _RunOnText: TypeAlias = RunOn
    _FbTypeText: TypeAlias = FbType
else:
    _RunOnText = str
    _FbTypeText = str


class FunctionBlockDefinitionError(ValueError):
    """A block's registration is invalid; ``problems`` lists every reason, ``source`` the declaration."""

    def __init__(self, where: str, problems: list[str], source: tuple[str, int] | None = None) -> None:
        self.where = where
        self.problems = problems
        self.source = source
        super().__init__(f"{where}: " + "; ".join(problems))


#: The module whose declarations are attached unchecked, while its importer means to check them.
_unchecked_module: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "neops_worker_unchecked_module", default=None
)


@contextlib.contextmanager
def unchecked_declarations(module: str) -> Iterator[None]:
    """Let the blocks declared in ``module`` be attached unchecked while it is imported.

    The importer (discovery) then checks each of them with ``definition_error`` and so reports every
    invalid block, not only the first. Blocks of other modules, imported from ``module``, are still
    checked when declared, so their importer fails as it always would.
    """
    token = _unchecked_module.set(module)
    try:
        yield
    finally:
        _unchecked_module.reset(token)


class Registration(BaseModel):
    """A block's identity and metadata, as published to the engine at registration."""

    model_config = ConfigDict(arbitrary_types_allowed=True, frozen=True)

    name: str
    description: str
    package: str
    # strict: the pydantic mypy plugin then types these arguments (the values are checked by problems()).
    run_on: _RunOnText = Field(default="global", strict=True)
    fb_type: _FbTypeText = Field(default="execute", strict=True)
    param_cls: type[BaseModel] | None = None
    result_cls: type[BaseModel] | None = None
    version: tuple[int, int, int] = (1, 0, 0)
    markdown_helptext: str | None = None
    deprecated: bool = False
    is_idempotent: bool = False
    is_pure: bool = False
    #: Whether the engine may roll the block back (``reversible`` at registration). None: decided by
    #: the block itself, True exactly when it implements ``rollback``.
    reversible: bool | None = None
    #: Where the block was declared (module file, line), filled in by the decorator.
    source: tuple[str, int] | None = Field(default=None, exclude=True)

    @property
    def fb_id(self) -> str:
        """The string id ``package/name:major.minor.patch`` jobs carry."""
        return format_fb_id(self.package, self.name, self.version)

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
                found.append(f"{field} {value!r} must be non-empty and contain no '/' or ':'")
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
        if not (isinstance(cls, type) and issubclass(cls, FunctionBlock)):
            raise FunctionBlockDefinitionError(
                _qualified(cls), ["@register_function_block decorates FunctionBlock classes"]
            )
        param_cls, result_cls = infer_models(cls)
        complete = registration.model_copy(
            update={
                "param_cls": registration.param_cls or param_cls,
                "result_cls": registration.result_cls or result_cls,
                "source": _source_of(cls, sys._getframe(1)),
            }
        )
        if _unchecked_module.get() != cls.__module__:
            error = _definition_error(cls, complete)
            if error is not None:
                raise error
        cls.registration = complete
        return cls

    return decorate


def definition_error(cls: type[FunctionBlock[Any, Any]]) -> FunctionBlockDefinitionError | None:
    """What is wrong with a block class's declaration, every reason at once; None when it is valid.

    Its methods' signatures are not part of it: discovery reports each at the method's own line
    (``BlockCalls.problems``).
    """
    return _definition_error(cls, cls.__dict__["registration"], signatures=False)


def _definition_error(
    cls: type, registration: Registration, signatures: bool = True
) -> FunctionBlockDefinitionError | None:
    problems = registration.problems() + _unimplemented(cls)
    if signatures:
        problems += [str(problem) for problem in BlockCalls.of(cls).problems]
    if not problems:
        return None
    return FunctionBlockDefinitionError(declared_as(cls, registration), problems, registration.source)


def declared_as(cls: type, registration: Registration) -> str:
    """A block class as problems name it: ``module.Class (package/name:1.0.0)``."""
    return f"{_qualified(cls)} ({registration.fb_id})"


def _qualified(cls: Any) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _unimplemented(cls: type) -> list[str]:
    """An abstract block class (an SDK-style block lacking ``run`` or ``acquire``) cannot run a job."""
    missing = sorted(getattr(cls, "__abstractmethods__", ()))
    return [f"the class does not implement {', '.join(f'{name}()' for name in missing)}"] if missing else []


def _source_of(cls: type, caller: FrameType | None) -> tuple[str, int] | None:
    """Where ``cls`` is declared: the line that applied the decorator, else the class's own, from its source.

    The frame is free; ``inspect.getsourcelines`` parses the whole module (a third of the import
    time of a small block). For ``@register_function_block(...)`` above a class, both name the same
    line, the first decorator's.
    """
    if caller is not None and caller.f_globals.get("__name__") == cls.__module__:
        return caller.f_code.co_filename, caller.f_lineno
    try:
        return inspect.getsourcefile(cls) or "?", inspect.getsourcelines(cls)[1]
    except (OSError, TypeError):
        return None
