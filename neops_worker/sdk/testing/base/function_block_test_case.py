"""The vendor SDK's test decorators for block classes, and its test case, run by the worker's own runner.

``@fb_test_case(description, params, context, ...)`` on a block class adds a test function to the
block's module, ``test_<class name in lower case>_<description as an id>`` (see
``create_safe_test_id``), marked ``function_block``; pytest collects it with the module (the
repository's pytest configuration must collect block modules, e.g. ``python_files = ["*.py"]``).
``@fb_test_case_with_lab(...)`` adds one marked ``function_block`` and ``remote_lab`` that runs the
block on the nodes of a remote lab fixture (named by ``remote_lab_fixture``). As in the SDK, a
decorator returns the class itself, and does nothing at all where pytest is not installed, so that
a production worker imports the module as it is.

Each test runs the block as the worker runs a job (:mod:`neops_worker.testing`): parameters and
context are sent as an engine would send them, the block runs on a job thread, and its result is
checked against the block's result model; then ``success``, the result data and the assertions are
checked. The tests are plain functions: pytest-asyncio plays no part. Unlike the SDK:

- the block works on a context built from the one given, so the given context never changes (its
  changes are the result's ``dbUpdates``); a raised exception fails the test with the worker's
  failure message, its traceback in the captured log;
- a lab test is skipped, not reported as an error, where there is no lab to run on: the lab
  package is not installed or ``REMOTE_LAB_URL`` is unset (:func:`neops_worker.testing_lab.requires_lab`).
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import re
import sys
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel

from neops_worker.sdk.engine_client import DeviceGroupTypeDto, DeviceTypeDto
from neops_worker.sdk.function_block.function_block import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
)
from neops_worker.sdk.testing.factories.context_factory import create_workflow_context
from neops_worker.sdk.workflow.workflow_context import WorkflowContext

if TYPE_CHECKING:
    from neops_worker.testing import BlockRun
    from neops_worker.testing_lab import InspectedNode

P = TypeVar("P", bound=FunctionBlockParams)
R = TypeVar("R", bound=FunctionBlockResultData)

#: The outcomes in which the block answered with a result; any other fails the test.
_ANSWERED = ("success", "failed")


class FunctionBlockTestCase(Generic[P, R]):
    """One run of a block with given parameters and context, and what its result must be."""

    id: str
    fb_cls: type[FunctionBlock[P, R]]
    params: P
    context: WorkflowContext
    succeeds: bool
    expected_result_data: R | None
    assertions: list[Callable[[FunctionBlockResult[R]], bool]] | None

    def __init__(
        self,
        fb_cls: type[FunctionBlock[P, R]],
        params: P,
        context: WorkflowContext,
        *,
        test_id: str | None = None,
        succeeds: bool = True,
        expected_result_data: R | None = None,
        assertions: list[Callable[[FunctionBlockResult[R]], bool]] | None = None,
    ) -> None:
        self.fb_cls = fb_cls
        self.params = params
        self.context = context
        self.id = create_safe_test_id(test_id or str(uuid.uuid4()))
        self.succeeds = succeeds
        self.expected_result_data = expected_result_data
        self.assertions = assertions

    async def execute(self) -> FunctionBlockResult[R]:
        """Run the block as the worker would, check its result (``AssertionError``), and return it."""
        from neops_worker.testing import BlockRunner  # the worker's execution path, loaded for a test

        context = self.context
        wire = {
            "devices": context.devices,
            "interfaces": context.interfaces,
            "deviceGroups": context.device_groups,
        }
        run = await BlockRunner().run_async(
            self.fb_cls, self.params, wire, run_on=context.run_on, entity_id=context.entity_id
        )
        result = self._result(run)
        self._check(run, result)
        return result

    def _result(self, run: BlockRun) -> FunctionBlockResult[R]:
        """The job's result as the block's ``FunctionBlockResult``, its data in the block's result model."""
        from neops_worker.testing import block_of

        model = block_of(self.fb_cls).registration.result_cls or FunctionBlockResultData
        data = None if run.data is None else model.model_validate(run.data)
        retryable = run.result["result"].get("retryable")
        answer: FunctionBlockResult[R] = FunctionBlockResult(
            success=run.success, message=run.message, data=data, retryable=retryable
        )
        return answer

    def _check(self, run: BlockRun, result: FunctionBlockResult[R]) -> None:
        __tracebackhide__ = True  # pytest shows the failed check, not this frame
        where = f"{self.fb_cls.__name__} ({self.id})"
        if run.outcome not in _ANSWERED:
            raise AssertionError(f"{where}: the job ended '{run.outcome}' without a result: {run.message}")
        if result.success is not self.succeeds:
            raise AssertionError(
                f"{where}: expected success={self.succeeds}, got success={result.success}: {result.message}"
            )
        expected = self.expected_result_data
        if expected is not None and _plain(result.data) != _plain(expected):
            raise AssertionError(
                f"{where}: result data {_plain(result.data)!r}, expected {_plain(expected)!r}"
            )
        for assertion in self.assertions or []:
            if not assertion(result):
                raise AssertionError(
                    f"{where}: assertion {_source(assertion)} failed; the result: {result!r}"
                )


def _plain(data: Any) -> Any:
    """Result data to compare: a model as its fields, anything else as it is."""
    return data.model_dump() if isinstance(data, BaseModel) else data


def _source(function: Callable[..., Any]) -> str:
    try:
        return inspect.getsource(function).strip()
    except (OSError, TypeError):
        return repr(function)


def create_safe_test_id(base: str) -> str:
    """``base`` in lower case with every character but letters, digits and ``_`` replaced by ``_``."""
    return re.sub(r"[^a-zA-Z0-9_]", "_", base.lower())


def _importable(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _unchanged(cls: type[FunctionBlock[P, R]]) -> type[FunctionBlock[P, R]]:
    return cls


def _add_test(cls: type[Any], description: str, test: Callable[..., None], *marks: Any) -> None:
    """Put ``test`` into the block's module under the SDK's name for it, with ``marks``."""
    name = f"test_{cls.__name__.lower()}_{create_safe_test_id(description)}"
    test.__name__ = test.__qualname__ = name
    test.__module__ = cls.__module__
    test.place_as = cls  # type: ignore[attr-defined]  # pytest reports the test at the block's class
    for mark in marks:
        test = mark(test)
    setattr(sys.modules[cls.__module__], name, test)


@dataclass(frozen=True)
class _Checks(Generic[R]):
    """What a decorator's test checks of the block's result."""

    succeeds: bool
    expected_result_data: R | None
    assertions: list[Callable[[FunctionBlockResult[R]], bool]] | None

    def case(
        self, cls: type[FunctionBlock[P, R]], params: P, description: str, context: WorkflowContext
    ) -> FunctionBlockTestCase[P, R]:
        """The test case of ``cls`` on ``params`` and ``context``, named after ``description``."""
        return FunctionBlockTestCase(
            cls,
            params,
            context,
            test_id=create_safe_test_id(description),
            succeeds=self.succeeds,
            expected_result_data=self.expected_result_data,
            assertions=self.assertions,
        )


def fb_test_case(
    test_description: str,
    params: P,
    context: WorkflowContext,
    *,
    succeeds: bool = True,
    expected_result_data: R | None = None,
    assertions: list[Callable[[FunctionBlockResult[R]], bool]] | None = None,
) -> Callable[[type[FunctionBlock[P, R]]], type[FunctionBlock[P, R]]]:
    """Add a test of the decorated block to its module: run it on ``params`` and ``context``, check it."""
    if not _importable("pytest"):
        return _unchanged
    import pytest

    checks = _Checks(succeeds, expected_result_data, assertions)

    def decorator(cls: type[FunctionBlock[P, R]]) -> type[FunctionBlock[P, R]]:
        def test() -> None:
            _run(checks.case(cls, params, test_description, context))

        _add_test(cls, test_description, test, pytest.mark.function_block)
        return cls

    return decorator


def fb_test_case_with_lab(
    test_description: str,
    params: P,
    run_on: str = "device",
    base_devices: list[DeviceTypeDto] | None = None,
    base_device_groups: list[DeviceGroupTypeDto] | None = None,
    *,
    remote_lab_fixture: str | None = None,
    succeeds: bool = True,
    expected_result_data: R | None = None,
    assertions: list[Callable[[FunctionBlockResult[R]], bool]] | None = None,
) -> Callable[[type[FunctionBlock[P, R]]], type[FunctionBlock[P, R]]]:
    """Add a lab test of the decorated block: run it on the nodes of ``remote_lab_fixture``, check it.

    The context holds ``base_devices``, ``base_device_groups`` and the lab's nodes as devices (see
    ``lab_context``). ``expected_result_data`` or ``assertions`` must be given.
    """
    if not _importable("pytest"):
        return _unchanged
    _require_checks(test_description, expected_result_data, assertions)
    import pytest

    from neops_worker.testing_lab import requires_lab

    checks = _Checks(succeeds, expected_result_data, assertions)

    def decorator(cls: type[FunctionBlock[P, R]]) -> type[FunctionBlock[P, R]]:
        def test(**fixtures: Any) -> None:
            nodes = fixtures[remote_lab_fixture] if remote_lab_fixture else []
            context = lab_context(run_on, base_devices or [], base_device_groups or [], nodes)
            _run(checks.case(cls, params, test_description, context))

        marks = (pytest.mark.function_block, pytest.mark.remote_lab, requires_lab)
        _add_test(cls, test_description, _taking(test, remote_lab_fixture), *marks)
        return cls

    return decorator


def _run(case: FunctionBlockTestCase[Any, Any]) -> None:
    """Run ``case`` to its checks from a plain test function: no pytest-asyncio needed."""
    __tracebackhide__ = True  # pytest shows the failed check, not this frame
    asyncio.run(case.execute())


def _require_checks(description: str, expected_result_data: Any, assertions: Any) -> None:
    """A lab case must check something, as the SDK requires (when the module is imported)."""
    if expected_result_data is None and assertions is None:
        raise ValueError(
            f"fb_test_case_with_lab({description!r}): give expected_result_data or assertions "
            "(or both), or the lab test checks nothing"
        )


def _taking(test: Callable[..., None], fixture: str | None) -> Callable[..., None]:
    """``test`` with a signature naming ``fixture``, so that pytest hands it that fixture's value."""
    if fixture:
        parameter = inspect.Parameter(fixture, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        setattr(test, "__signature__", inspect.Signature([parameter]))  # noqa: B010 - mypy: no such field
    return test


def lab_context(
    run_on: str,
    devices: Sequence[DeviceTypeDto],
    device_groups: Sequence[DeviceGroupTypeDto],
    nodes: Sequence[InspectedNode],
) -> WorkflowContext:
    """The context of a lab test: the given entities and the lab's nodes as devices (after them).

    A ``device`` job runs on the first lab device (the first given device without a lab fixture),
    a ``group`` job on the first group; any other job on no entity.
    """
    from neops_worker.sdk.testing.devices.remote_lab_device import RemoteLabDevice

    lab = [RemoteLabDevice.from_dto(node).to_neops_device() for node in nodes]
    every = [*devices, *lab]
    entity_id = None
    if run_on == "device" and every:
        entity_id = (lab or every)[0].id
    elif run_on == "group" and device_groups:
        entity_id = device_groups[0].id
    return create_workflow_context(run_on, entity_id, devices=every, device_groups=device_groups)


__all__ = ["FunctionBlockTestCase", "create_safe_test_id", "fb_test_case", "fb_test_case_with_lab"]
