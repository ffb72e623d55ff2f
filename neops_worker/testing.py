"""Helpers for function-block authors' tests: run a block as the worker would, without an engine.

::

    from neops_worker.testing import device, run_block

    def test_sets_the_release() -> None:
        run = run_block(SetSoftwareRelease, {"software_release": "17.9"},
                        context={"devices": [device(42, hostname="r1")]})
        assert run.success
        assert run.db_updates == [{"operation": "patch", "entity": "device", "id": 42,
                                   "path": "software_release", "value": "17.9"}]

Every run goes through ``execute_job``, the function the worker runs jobs with: parameters are
validated, the context is built and checked, the block runs, and its answer becomes the
``JobResultDto`` the worker would push. Where the block runs is ``isolation``:

* ``"process"``, as the worker by default (``JOB_ISOLATION=process``): the worker's own job-process
  supervisor runs the job in a job process forked from the test process at the call. A timeout
  kills that process ("Job killed after JOB_TIMEOUT of N s"); a block that ends its process
  (``os._exit(4)``, a segfault) fails the job ("The job process exited with status 4 while running
  the job"); the test process carries on. Taken by default when ``timeout`` is given.
* ``"thread"``, without a ``timeout``: in the test process, on a job thread, as
  ``JOB_ISOLATION=thread`` does. Fastest, and the block works on the test's own objects.

Where the two differ (``sys.exit`` in a block fails the job alike in both):

* a timeout in a thread fails the job "Job exceeded JOB_TIMEOUT of N s and was abandoned": an
  ``async def`` block is cancelled, a plain ``def`` block keeps running in the test process;
* a block that ends the interpreter (``os._exit``, a crash of a C extension) ends the test run;
* in a job process the block sees the test's state as it was at the call (monkeypatches, files,
  imported modules), but what it changes in memory (a fake recording calls, module globals) stays
  there; what it prints arrives as INFO records of the ``neops_worker.block`` logger and its log
  lines as records too, at the test's root logging level (``caplog.set_level``), not on stdout.

``block_runner`` is a pytest fixture; import it into a ``conftest.py`` to use it. This module
imports neither the engine client nor pytest (the fixture is made only when pytest is installed),
nor the job-process supervisor before a run asks for it.
"""

from __future__ import annotations

import inspect
import logging
import sys
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

from pydantic import BaseModel

from neops_worker.blocks.base import FunctionBlock
from neops_worker.blocks.entities import Device, DeviceGroup, Entity, Interface
from neops_worker.blocks.registration import Registration
from neops_worker.devkit.jobinput import job_definition, normalize_context
from neops_worker.discovery import DiscoveredBlock, discover
from neops_worker.engine.wire import JobDefinition
from neops_worker.registry import Registry, find_blocks
from neops_worker.worker.execution import execute_job, run_coroutine
from neops_worker.worker.outcome import JobOutcome

if TYPE_CHECKING:
    from neops_worker.sdk.function_block.function_block import FunctionBlock as SdkFunctionBlock
    from neops_worker.settings import LogLevel

#: A block: a registered class (native or SDK-style), a discovered block, or an id or name.
BlockRef = type[FunctionBlock[Any, Any]] | type["SdkFunctionBlock[Any, Any]"] | DiscoveredBlock | str
#: Where a block runs: in a job process forked at the call, or on a thread of the test process.
Isolation = Literal["process", "thread"]


@dataclass(frozen=True)
class BlockRun:
    """What one run of a block produced: the wire result and its parts, ready to assert on."""

    #: ``success``, ``failed``, ``error`` (the block raised), ``timeout``, ``rejected`` (bad input),
    #: ``exited`` (the block called ``sys.exit``) or ``crashed`` (its job process died).
    outcome: str
    #: The ``JobResultDto`` body the worker would push, camelCase as on the wire.
    result: dict[str, Any]
    duration_s: float
    job: JobDefinition = field(repr=False)

    @property
    def success(self) -> bool:
        """Whether the job succeeded (``result.success``)."""
        return bool(self.result["result"]["success"])

    @property
    def message(self) -> str:
        """The result message (a raised exception reads ``ErrorType: text``)."""
        return str(self.result["result"].get("message") or "")

    @property
    def data(self) -> dict[str, Any] | None:
        """The result data as sent (checked against the block's result model), or None."""
        data: dict[str, Any] | None = self.result["result"].get("data")
        return data

    @property
    def db_updates(self) -> list[dict[str, Any]]:
        """The ``dbUpdates`` entries as sent; empty when the block changed nothing (or failed)."""
        updates: list[dict[str, Any]] = self.result["result"].get("dbUpdates", {}).get("updates", [])
        return updates

    @property
    def acquires(self) -> list[dict[str, Any]]:
        """An acquire job's acquires as sent; empty otherwise."""
        acquires: list[dict[str, Any]] = self.result.get("acquires", [])
        return acquires

    @classmethod
    def from_outcome(cls, job: JobDefinition, outcome: JobOutcome) -> BlockRun:
        """Wrap the worker's ``JobOutcome`` of ``job``."""
        return cls(outcome.outcome, outcome.result.to_wire(), outcome.duration_s, job)


class BlockRunner:
    """Runs blocks given as classes or ids; ids are looked up in ``directories`` or imported blocks."""

    def __init__(self, directories: Sequence[str | Path] = ()) -> None:
        self.directories = list(directories)
        self._registry: Registry | None = None

    def run(
        self,
        block: BlockRef,
        params: Mapping[str, Any] | BaseModel | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        run_on: str | None = None,
        entity_id: int | None = None,
        job_type: str = "execute",
        timeout: float = 0,
        isolation: Isolation | None = None,
    ) -> BlockRun:
        """Run one job of ``block`` to its result (see ``run_block``)."""
        run: BlockRun = run_coroutine(
            lambda: self.run_async(
                block,
                params,
                context,
                run_on=run_on,
                entity_id=entity_id,
                job_type=job_type,
                timeout=timeout,
                isolation=isolation,
            )
        )
        return run

    async def run_async(
        self,
        block: BlockRef,
        params: Mapping[str, Any] | BaseModel | None = None,
        context: Mapping[str, Any] | None = None,
        *,
        run_on: str | None = None,
        entity_id: int | None = None,
        job_type: str = "execute",
        timeout: float = 0,
        isolation: Isolation | None = None,
    ) -> BlockRun:
        """``run`` for tests that already run an event loop."""
        found = self.resolve(block)
        job = make_job(found, params, context, run_on=run_on, entity_id=entity_id, job_type=job_type)
        if (isolation or ("process" if timeout else "thread")) == "process":
            outcome = await run_in_job_process(found, job, timeout, self.directories)
        else:
            outcome = await execute_job(job, _lookup(found), job_timeout=timeout)
        return BlockRun.from_outcome(job, outcome)

    def resolve(self, block: BlockRef) -> DiscoveredBlock:
        """The block a reference names: a registered class, a discovered block, or an id or name."""
        if isinstance(block, DiscoveredBlock):
            return block
        if isinstance(block, str):
            return _only(block, self._candidates(block))
        return block_of(block)

    def _candidates(self, reference: str) -> list[DiscoveredBlock]:
        if not self.directories:
            return _distinct(find_blocks(reference, imported_blocks()))
        if self._registry is None:
            report = discover([Path(d) for d in self.directories])
            if report.problems:
                raise LookupError("cannot load the blocks: " + "; ".join(map(str, report.problems)))
            self._registry = Registry(report.blocks)
        return self._registry.find(reference)


def run_block(
    block: BlockRef,
    params: Mapping[str, Any] | BaseModel | None = None,
    context: Mapping[str, Any] | None = None,
    *,
    run_on: str | None = None,
    entity_id: int | None = None,
    job_type: str = "execute",
    timeout: float = 0,
    isolation: Isolation | None = None,
) -> BlockRun:
    """Run one job of ``block`` as the worker would, and return what it would push.

    ``block`` is a registered ``FunctionBlock`` class or an id (``package/name:1.0.0``,
    ``package/name`` or a unique name) of an imported block. ``context`` holds ``devices``,
    ``interfaces`` and ``deviceGroups`` (plain dicts, or the ``device()`` ... helpers' dicts).
    ``run_on`` defaults to the block's registered run-on; ``entity_id`` to the only entity of
    that kind in the context. ``job_type`` is ``execute``, ``acquire`` or ``rollback``;
    ``timeout`` is JOB_TIMEOUT in seconds (0: none). ``isolation`` is ``"process"`` (a job process,
    as the worker's default; taken when a ``timeout`` is given) or ``"thread"`` (in this process;
    taken otherwise); the module's docstring says where they differ.
    """
    return BlockRunner().run(
        block,
        params,
        context,
        run_on=run_on,
        entity_id=entity_id,
        job_type=job_type,
        timeout=timeout,
        isolation=isolation,
    )


async def run_block_async(
    block: BlockRef,
    params: Mapping[str, Any] | BaseModel | None = None,
    context: Mapping[str, Any] | None = None,
    *,
    run_on: str | None = None,
    entity_id: int | None = None,
    job_type: str = "execute",
    timeout: float = 0,
    isolation: Isolation | None = None,
) -> BlockRun:
    """``run_block`` for async tests (the block still runs off the test's loop: a job thread or process)."""
    return await BlockRunner().run_async(
        block,
        params,
        context,
        run_on=run_on,
        entity_id=entity_id,
        job_type=job_type,
        timeout=timeout,
        isolation=isolation,
    )


async def run_in_job_process(
    block: DiscoveredBlock, job: JobDefinition, timeout: float = 0, directories: Sequence[str | Path] = ()
) -> JobOutcome:
    """Run ``job`` as ``JOB_ISOLATION=process`` does: the worker's supervisor, a job process forked here.

    ``timeout`` is JOB_TIMEOUT (0: none; the engine's stuck-job timeout plays no part here).
    """
    from neops_worker.settings import Settings
    from neops_worker.worker.events import Observers
    from neops_worker.worker.jobprocess.launch import fork_serving
    from neops_worker.worker.jobprocess.supervisor import ProcessRunner

    # Built, not read: the test's environment and .env do not change how the kit runs a block.
    settings = Settings.model_construct(
        dir_function_blocks=[str(d) for d in directories],
        job_timeout=timeout,
        engine_stuck_job_timeout=0,
        log_level=_root_level(),
    )
    template = fork_serving(settings, [block])
    if template is None:
        raise OSError("cannot fork a job process for isolation='process' (the system refused a fork)")
    async with ProcessRunner(settings, Observers(), template) as runner:
        await runner.catalog()
        return await runner.run(job)


def _root_level() -> LogLevel:
    """The test's root logging level, as the job process forwards records (rounded down to a name)."""
    level = logging.getLogger().getEffectiveLevel()
    numbers = logging.getLevelNamesMapping()
    names: tuple[LogLevel, ...] = ("CRITICAL", "ERROR", "WARNING", "INFO")
    return next((name for name in names if numbers[name] <= level), "DEBUG")


def make_job(
    block: DiscoveredBlock,
    params: Mapping[str, Any] | BaseModel | None = None,
    context: Mapping[str, Any] | None = None,
    *,
    run_on: str | None = None,
    entity_id: int | None = None,
    job_type: str = "execute",
) -> JobDefinition:
    """The ``JobDefinition`` an engine would send to run ``block`` with these inputs."""
    if isinstance(params, BaseModel):
        params = params.model_dump(mode="json")
    return job_definition(
        block.fb_id,
        params or {},
        normalize_context(context or {}),
        job_type=job_type,
        run_on=run_on or block.registration.run_on,
        entity_id=entity_id,
    )


# --- finding blocks ---------------------------------------------------------------------


def block_of(cls: type[FunctionBlock[Any, Any]] | type[SdkFunctionBlock[Any, Any]]) -> DiscoveredBlock:
    """A registered block class as the worker sees it (registration and provenance)."""
    # An SDK-style block is a native one at run time (only type checkers see the SDK's contract).
    native = typing.cast(type[FunctionBlock[Any, Any]], cls)
    is_block = inspect.isclass(native) and issubclass(native, FunctionBlock)
    registration: Registration | None = native.__dict__.get("registration") if is_block else None
    if registration is None:
        raise TypeError(f"{cls!r} is not a function block registered with @register_function_block")
    file, line = registration.source or (inspect.getfile(native), None)
    return DiscoveredBlock(native, registration, native.__module__, Path(file), line)


def imported_blocks() -> list[DiscoveredBlock]:
    """Every registered block class of a module imported so far."""
    return [
        block_of(cls)
        for cls in _subclasses(FunctionBlock)
        if "registration" in cls.__dict__ and cls.__module__ in sys.modules
    ]


def _subclasses(cls: type[Any]) -> Iterator[type[Any]]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def _distinct(blocks: list[DiscoveredBlock]) -> list[DiscoveredBlock]:
    # One declaration imported under two module names (a directory discovered at two levels)
    # is two classes but one block.
    found: dict[tuple[str, str, int | None], DiscoveredBlock] = {}
    for block in blocks:
        found.setdefault((block.fb_id, str(block.file.resolve()), block.line), block)
    return list(found.values())


def _only(reference: str, found: list[DiscoveredBlock]) -> DiscoveredBlock:
    if not found:
        raise LookupError(f"no function block {reference!r} (import its module first, or give directories)")
    if len(found) > 1:
        ids = ", ".join(f"{b.fb_id} ({b.where})" for b in found)
        raise LookupError(f"{reference!r} is ambiguous: {ids}")
    return found[0]


def _lookup(block: DiscoveredBlock) -> Callable[[str], DiscoveredBlock | None]:
    return lambda fb_id: block if fb_id == block.fb_id else None


# --- context builders -------------------------------------------------------------------


def device(id: int = 1, **attributes: Any) -> dict[str, Any]:
    """A device for a job context: ``device(42, hostname="r1", software_release="17.6")``."""
    return _entity(Device, id, attributes)


def interface(id: int = 1, **attributes: Any) -> dict[str, Any]:
    """An interface for a job context: ``interface(7, name="Gi0/1", device={"id": 42})``."""
    return _entity(Interface, id, attributes)


def device_group(id: int = 1, **attributes: Any) -> dict[str, Any]:
    """A device group for a job context: ``device_group(5, name="core")``."""
    return _entity(DeviceGroup, id, attributes)


def job_context(
    devices: Sequence[Mapping[str, Any]] = (),
    interfaces: Sequence[Mapping[str, Any]] = (),
    device_groups: Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """A job context (wire form) from entity dicts, e.g. ``job_context(devices=[device(42)])``."""
    return normalize_context(
        {"devices": list(devices), "interfaces": list(interfaces), "deviceGroups": list(device_groups)}
    )


def _entity(model: type[Entity], entity_id: int, attributes: dict[str, Any]) -> dict[str, Any]:
    """Check the attribute names (a typo would otherwise be silently ignored) and the values."""
    known = set(model.model_fields) | {f.alias for f in model.model_fields.values() if f.alias}
    unknown = sorted(set(attributes) - known)
    if unknown:
        raise TypeError(f"{model.__name__} has no attribute {', '.join(unknown)}")
    entity = model.model_validate({"id": entity_id, **attributes})
    return entity.model_dump(mode="json", by_alias=True, exclude_unset=True)


# --- the pytest fixture -----------------------------------------------------------------

F = TypeVar("F", bound=Callable[..., Any])


def _fixture(function: F) -> F:
    """Make ``function`` a pytest fixture when pytest is installed (it is no dependency of ours)."""
    try:
        import pytest
    except ModuleNotFoundError:
        return function
    return typing.cast(F, pytest.fixture(function))


@_fixture
def block_runner() -> BlockRunner:
    """Fixture: a ``BlockRunner`` over the imported blocks; import it into your ``conftest.py``."""
    return BlockRunner()


__all__ = [
    "BlockRun",
    "BlockRunner",
    "Isolation",
    "block_of",
    "block_runner",
    "device",
    "device_group",
    "imported_blocks",
    "interface",
    "job_context",
    "make_job",
    "run_block",
    "run_block_async",
    "run_in_job_process",
]
