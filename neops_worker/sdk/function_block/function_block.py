"""The vendor SDK's ``FunctionBlock`` and its models, on the native ones.

The models and results are the native classes (same names, same fields). ``FunctionBlock`` is a
subclass of the native base with the SDK's contract:

- ``run`` and ``acquire`` are abstract; ``acquire`` receives an ``AcquireParams`` (``partial``,
  ``unresolved``, ``raw``), not the parameter model itself;
- ``run`` and ``rollback`` receive the SDK's view of the context, whose ``device``,
  ``interface`` and ``device_group`` are ``None`` on a job that does not run on one;
- ``run``, ``acquire`` and ``rollback`` receive the job's ``JobMeta`` when they declare it, as
  the SDK's later releases write it (``async def run(self, params, context, meta)``);
- ``self.logger`` is a contextual logger (``self.logger.with_context(device=...)``);
- ``execute_function_block`` and ``rollback_function_block`` call ``run`` and ``rollback`` behind
  the SDK's error boundary, for tests that call a block directly.

The worker itself runs such a block as it runs any other: ``run``, ``acquire`` and ``rollback``
in a thread of their own, with its own validation and error handling.
"""

from __future__ import annotations

import abc
import functools
import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from neops_worker.blocks import base as native
from neops_worker.blocks.base import (
    AcquireParams,
    FunctionBlockAcquireResult,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    FunctionBlockRollbackResult,
    PermanentFailure,
    default_rollback,
)
from neops_worker.blocks.calls import BlockCalls, Call
from neops_worker.blocks.context import WorkflowContext as NativeContext
from neops_worker.blocks.lenient import parse_leniently
from neops_worker.blocks.meta import JobMeta
from neops_worker.blocks.registration import Registration
from neops_worker.blocks.registration import Registration as NativeRegistration
from neops_worker.engine.wire import Acquire
from neops_worker.sdk.logger import BaseLogger, ContextualLogger, logger_for
from neops_worker.sdk.workflow.workflow_context import WorkflowContext

ParamsT = TypeVar("ParamsT", bound=FunctionBlockParams)
ResultDataT = TypeVar("ResultDataT", bound=FunctionBlockResultData)

#: The acquire shapes a result may carry (``elastic`` and ``context``).
EntityAcquire = Acquire


if TYPE_CHECKING:
    # Type checkers see the SDK's own contract, whose signatures differ from the native ones
    # (``acquire`` takes an ``AcquireParams``, ``run`` the SDK's context), so that SDK-style blocks
    # type-check as they did against the SDK. At run time the class is a native block.
    class _Base(Generic[ParamsT, ResultDataT]):
        registration: ClassVar[NativeRegistration]

else:
    _Base = native.FunctionBlock


class FunctionBlock(_Base[ParamsT, ResultDataT], abc.ABC):
    """Base class of an SDK-style block: implement ``run`` and ``acquire``; ``rollback`` is optional."""

    def __init__(self, logger: BaseLogger | None = None) -> None:
        self.logger = logger_for(self, logger)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """Hand the ``run`` and ``rollback`` a subclass defines the SDK's view of the context."""
        super().__init_subclass__(**kwargs)
        for name in ("run", "rollback"):
            method = cls.__dict__.get(name)
            if inspect.isfunction(method):
                setattr(cls, name, _with_sdk_context(method))

    @property
    def logger(self) -> ContextualLogger:
        """The block's logger: named after its module, its lines carry the block's class."""
        return self._logger

    @logger.setter
    def logger(self, value: BaseLogger) -> None:
        self._logger = value if isinstance(value, ContextualLogger) else logger_for(self, value)

    # As on the native base: ``(*args, **kwargs)`` lets ``run(self, params, context)`` and
    # ``run(self, params, context, meta)`` both override these (the worker reads the real ones).

    @abc.abstractmethod
    async def run(self, *args: Any, **kwargs: Any) -> FunctionBlockResult[ResultDataT]:
        """Do the work of an execute job: ``run(self, params, context[, meta])``."""

    @abc.abstractmethod
    async def acquire(self, *args: Any, **kwargs: Any) -> FunctionBlockAcquireResult:
        """Say which entities the step needs, from ``AcquireParams`` that may be partly unresolved."""

    @default_rollback
    async def rollback(self, *args: Any, **kwargs: Any) -> FunctionBlockRollbackResult:
        """Undo an earlier execute (``rollback(self, params, context[, result_from_failed][, meta])``).

        By default a failed result, as in the SDK.
        """
        return FunctionBlockRollbackResult(success=False, message="Rollback not implemented")

    def acquire_input(self, params: AcquireParams[ParamsT]) -> Any:
        """What ``acquire`` receives of an acquire job's parameters: the whole ``AcquireParams``."""
        return params

    async def execute_function_block(
        self,
        params: ParamsT,
        context: WorkflowContext,
        meta: JobMeta | None = None,
        *,
        propagate_exceptions: bool = False,
    ) -> FunctionBlockResult[ResultDataT]:
        """``run``, with an exception as a failed result (or raised, with ``propagate_exceptions``).

        A ``run`` that declares the job meta gets ``meta``, or one saying there is no job.
        """
        try:
            ran = _called(self, "run", {"params": params, "context": context, "meta": meta})
            result: FunctionBlockResult[ResultDataT] = await _awaited(ran)
        except Exception as exc:
            if propagate_exceptions:
                raise
            return FunctionBlockResult(
                success=False, message=f"Error executing function block: {exc}", retryable=_retryable(exc)
            )
        return result

    async def rollback_function_block(
        self, params: ParamsT, context: WorkflowContext, meta: JobMeta | None = None
    ) -> FunctionBlockRollbackResult:
        """``rollback``, with an exception as a failed result (the job meta as for ``run``)."""
        values = {"params": params, "context": context, "result_from_failed": None, "meta": meta}
        try:
            result: FunctionBlockRollbackResult = await _awaited(_called(self, "rollback", values))
        except Exception as exc:
            return FunctionBlockRollbackResult(
                success=False, message=f"Error rolling back function block: {exc}", retryable=_retryable(exc)
            )
        return result

    def parse_parameters_from_dto(self, dto: dict[str, Any], param_cls: type[ParamsT]) -> ParamsT:
        """Validate job parameters strictly; keys the model does not declare are logged and ignored."""
        extra = sorted(set(dto) - set(param_cls.model_fields))
        if extra:
            self.logger.warning(f"Extra properties in parameters for {param_cls.__name__}: {extra}")
        return param_cls.model_validate(dto)

    def parse_acquire_parameters_from_dto(
        self, dto: dict[str, Any], registration: Registration
    ) -> AcquireParams[ParamsT]:
        """Parse an acquire job's parameters leniently, as the worker does before calling ``acquire``."""
        model = registration.param_cls or FunctionBlockParams
        partial, unresolved = parse_leniently(model, dto)
        if unresolved:
            self.logger.warning(
                f"Unresolved parameters at acquire for {registration.fb_id}: {sorted(unresolved)}"
            )
        return AcquireParams(partial=partial, unresolved=unresolved, raw=dto)  # type: ignore[arg-type]


def _retryable(exc: Exception) -> bool | None:
    """A block's ``PermanentFailure`` keeps its meaning behind the SDK's error boundary: no retry."""
    return False if isinstance(exc, PermanentFailure) else None


def _called(block: FunctionBlock[Any, Any], entry: str, values: dict[str, Any]) -> Any:
    """``run`` or ``rollback`` called as the worker calls it; a direct call's job meta stands in if needed."""
    call: Call = getattr(BlockCalls.of(type(block)), entry)
    if call.wants_meta and values["meta"] is None:
        values["meta"] = _direct_call_meta(block, "execute" if entry == "run" else entry, values["context"])
    return call.invoke(getattr(block, entry), values)


def _direct_call_meta(block: FunctionBlock[Any, Any], job_type: str, context: Any) -> JobMeta:
    """The job meta of a call outside any job (a test's): no job id, no worker, no deadline."""
    registration = getattr(type(block), "registration", None)
    return JobMeta(
        job_id="",
        function_block_id=registration.fb_id if registration else type(block).__qualname__,
        job_type=job_type,
        step_label=None,
        run_on=getattr(context, "run_on", "global"),
        entity_id=getattr(context, "entity_id", None),
        worker_id=None,
        worker_name=None,
    )


async def _awaited(value: Any) -> Any:
    """A block method's answer, awaited if it is awaitable (``async def`` or a plain ``def``)."""
    return await value if inspect.isawaitable(value) else value


def _viewed(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments of ``run(params, context, ...)`` with a native context shown as the SDK's."""
    if len(args) >= 2 and isinstance(args[1], NativeContext):
        args = (args[0], WorkflowContext.of(args[1]), *args[2:])
    if isinstance(kwargs.get("context"), NativeContext):
        kwargs = {**kwargs, "context": WorkflowContext.of(kwargs["context"])}
    return args, kwargs


def _with_sdk_context(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method`` (a block's ``run`` or ``rollback``) seeing the SDK's view of the worker's context.

    Every other argument (the job meta, ``result_from_failed``) passes through as given; the
    wrapper keeps ``method``'s signature (``__wrapped__``), which discovery reads to decide them.
    """
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        async def viewed_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            args, kwargs = _viewed(args, kwargs)
            return await method(self, *args, **kwargs)

        return viewed_async

    @functools.wraps(method)
    def viewed(self: Any, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = _viewed(args, kwargs)
        return method(self, *args, **kwargs)

    return viewed


__all__ = [
    "EntityAcquire",
    "FunctionBlock",
    "FunctionBlockAcquireResult",
    "FunctionBlockParams",
    "FunctionBlockResult",
    "FunctionBlockResultData",
    "FunctionBlockRollbackResult",
    "JobMeta",
    "ParamsT",
    "ResultDataT",
]
