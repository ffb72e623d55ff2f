"""The function-block authoring API: parameter and result models, results, the block base class.

Names follow the vendor worker SDK, so a block written for it ports by changing its imports.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidatorFunctionWrapHandler,
    field_serializer,
    field_validator,
)

from neops_worker.engine.wire import Acquire

if TYPE_CHECKING:
    from neops_worker.blocks.registration import Registration


class FunctionBlockParams(BaseModel):
    """Base of a block's parameter model. Extra keys are ignored (the worker logs a warning)."""

    model_config = ConfigDict(extra="ignore")

    _unresolved: frozenset[str] = PrivateAttr(default_factory=frozenset)

    def unresolved_fields(self) -> frozenset[str]:
        """In an acquire job: the fields the engine could not resolve yet (absent, null or invalid)."""
        return self._unresolved


class FunctionBlockResultData(BaseModel):
    """Base of a block's result data model; unknown keys are rejected, as the published schema says."""

    model_config = ConfigDict(extra="forbid")


P = TypeVar("P", bound=FunctionBlockParams)
R = TypeVar("R", bound=FunctionBlockResultData)
_F = TypeVar("_F", bound=Callable[..., Any])

#: Marks a base class's ``rollback`` that only refuses: a block that keeps it does not implement rollback.
_DEFAULT_ROLLBACK = "__neops_default_rollback__"


def default_rollback(method: _F) -> _F:
    """Mark ``method`` as a base class's refusing ``rollback`` (see ``implements_rollback``)."""
    setattr(method, _DEFAULT_ROLLBACK, True)
    return method


def implements_rollback(cls: type) -> bool:
    """Whether the block class defines a ``rollback`` of its own (not a base class's refusal)."""
    return not getattr(getattr(cls, "rollback", None), _DEFAULT_ROLLBACK, False)


@dataclass(frozen=True)
class AcquireParams(Generic[P]):
    """An acquire job's parameters: the leniently parsed model, what is unresolved, and the raw payload."""

    #: The parameters; fields in ``unresolved`` hold their default, ``None`` if they have none.
    partial: P
    #: Fields the engine could not resolve yet (absent, ``null`` or invalid at acquire time).
    unresolved: frozenset[str]
    #: The parameters exactly as the job carried them.
    raw: dict[str, Any]


class PermanentFailure(Exception):
    """Raise from a block to fail the job for good: the message is the result's, and no retry follows.

    The same as returning a failed result with ``retryable=False``; for a verdict found deep in
    helper code (a device that rejects the configuration as invalid, a check that found it
    non-compliant), where returning is awkward.
    """


class FunctionBlockResult(BaseModel, Generic[R]):
    """What ``run`` returns: success, a human-readable message, and the result data.

    ``data`` is an instance of the block's result model, or a dict of its fields:
    ``FunctionBlockResult(success=True, data={"count": 2})`` is kept as given and validated into the
    block's result model by the worker (``FunctionBlockResult[Result](...)`` validates it at once).
    A success must carry ``data`` when the result model has required fields.
    """

    success: bool
    message: str = ""
    data: R | None = None
    #: ``False`` on a failure every attempt would meet (a verdict, not a fault): the engine does not
    #: retry the job. ``None`` leaves it to the engine; ignored on a success.
    retryable: bool | None = None

    @field_validator("data", mode="wrap")
    @classmethod
    def _data_as_given(cls, value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        # Unparametrized, the model cannot know the block's result model: its bound would refuse every
        # key. A mapping waits for the worker, which validates it against the registered model.
        if isinstance(value, Mapping) and not cls.__pydantic_generic_metadata__["args"]:
            return dict(value)
        return handler(value)

    @field_serializer("data", mode="wrap")
    def _dump_data(self, data: Any, handler: SerializerFunctionWrapHandler) -> Any:
        return dict(data) if isinstance(data, Mapping) else handler(data)


class FunctionBlockAcquireResult(BaseModel):
    """What ``acquire`` returns: the entities the step needs (elastic or context acquires)."""

    success: bool = True
    message: str = ""
    #: ``None`` (as the vendor SDK allows) means no acquires, as an empty list does.
    acquires: list[Acquire] | None = Field(default_factory=list)
    #: As on ``FunctionBlockResult``: ``False`` on a failure every attempt would meet (no retry).
    retryable: bool | None = None


class FunctionBlockRollbackResult(BaseModel):
    """What ``rollback`` returns: whether the earlier execute was undone."""

    success: bool
    message: str = ""
    #: As on ``FunctionBlockResult``: ``False`` on a failure every attempt would meet (no retry).
    retryable: bool | None = None


class FunctionBlock(Generic[P, R]):
    """Base class of a function block: implement ``run``; ``acquire`` and ``rollback`` are optional.

    ``run`` may be ``async def`` or a plain ``def``. Both run off the worker's event loop, so a
    blocking call inside a block delays neither heartbeats nor shutdown handling. Each of the
    three may take the job's ``JobMeta`` too, by declaring it: ``run(self, params, context, meta)``,
    ``acquire(self, params, meta)``, ``rollback(self, params, context, meta)`` (the rule is in
    ``neops_worker.blocks.calls``).
    """

    #: Set by ``@register_function_block``.
    registration: ClassVar[Registration]

    @property
    def logger(self) -> logging.Logger:
        """A logger named after the block's module (as in the vendor SDK); lines carry the job's ids."""
        return logging.getLogger(type(self).__module__)

    # ``(*args, **kwargs)``: a block declares ``run(self, params, context)`` or ``run(self, params,
    # context, meta)`` (see ``neops_worker.blocks.calls``), and type checkers take either as an
    # override of these, still checking the result types. The worker reads the real signatures.

    def run(self, *args: Any, **kwargs: Any) -> FunctionBlockResult[R] | Awaitable[FunctionBlockResult[R]]:
        """Do the work of an execute job: ``run(self, params, context[, meta])``."""
        raise NotImplementedError(f"{type(self).__name__} does not implement run()")

    def acquire(
        self, *args: Any, **kwargs: Any
    ) -> FunctionBlockAcquireResult | Awaitable[FunctionBlockAcquireResult]:
        """Say which entities the step needs (``acquire(self, params[, meta])``); by default none."""
        return FunctionBlockAcquireResult(success=True, message="No acquires")

    @default_rollback
    def rollback(
        self, *args: Any, **kwargs: Any
    ) -> FunctionBlockRollbackResult | Awaitable[FunctionBlockRollbackResult]:
        """Undo an earlier execute (``rollback(self, params, context[, result_from_failed][, meta])``).

        By default a failed result saying rollback is not implemented.
        """
        return FunctionBlockRollbackResult(
            success=False, message=f"Rollback is not implemented by {type(self).__name__}"
        )

    def acquire_input(self, params: AcquireParams[P]) -> Any:
        """What ``acquire`` receives of an acquire job's parameters: the partial parameter model."""
        return params.partial


def result_data_dump(data: Any) -> dict[str, Any] | None:
    """The ``data`` of a result as JSON, from a result model or a plain mapping."""
    if data is None:
        return None
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    return dict(data)
