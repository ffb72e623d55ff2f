"""Discovery: directories -> the function blocks declared in them, with provenance and problems.

Every ``.py`` file below a directory is imported under a fully qualified module name rooted at
the directory's own name (``function_blocks/net/show.py`` -> ``function_blocks.net.show``), so
blocks can import their sibling modules and two directories with same-named subpackages do not
collide (a second root of the same name gets a ``__2`` suffix). What the vendor SDK skips is
skipped, and nothing else: dot-directories, ``__pycache__``, directories named ``test``, ``tests``
or ``testing``, files named ``test_*.py``, and ``conftest.py``. The report names the test files
and directories it skipped (``skipped``), so that a block in one of them does not go unnoticed.

A module that declares an invalid block counts as broken, as if the decorator had raised; every
invalid block in it is reported, each with its reasons and line, not only the first: the module is
imported with its own declarations unchecked, and discovery checks each block it then finds. A
block whose ``run``, ``acquire`` or ``rollback`` the worker cannot call as it calls them (see
:mod:`neops_worker.blocks.calls`) is invalid too, reported at the line that defines the method:
a problem found here, never a failed job.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import inspect
import re
import sys
import traceback
import types
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from neops_worker.blocks.base import FunctionBlock
from neops_worker.blocks.calls import BlockCalls
from neops_worker.blocks.registration import (
    FunctionBlockDefinitionError,
    Registration,
    declared_as,
    definition_error,
    unchecked_declarations,
)
from neops_worker.errors import validation_problems
from neops_worker.sdk import bridge as sdk_bridge
from neops_worker.sdk import mapping as sdk_mapping

BlockClass = type[FunctionBlock[Any, Any]]

#: Directories of tests: skipped, and named in the report.
TEST_DIRS = frozenset({"test", "tests", "testing"})


@dataclass(frozen=True)
class DiscoveredBlock:
    """A block class with its registration and where it was declared."""

    cls: type[FunctionBlock[Any, Any]]
    registration: Registration
    module: str
    file: Path
    line: int | None = None
    #: How the worker calls the block's ``run``, ``acquire`` and ``rollback``: read once, here.
    calls: BlockCalls = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "calls", BlockCalls.of(self.cls))

    @property
    def fb_id(self) -> str:
        """The block's string id."""
        return self.registration.fb_id

    @property
    def where(self) -> str:
        """``file:line`` of the declaration."""
        return f"{self.file}:{self.line}" if self.line else str(self.file)


@dataclass(frozen=True)
class DiscoveryProblem:
    """A file that could not be loaded, or a directory that could not be read."""

    path: Path
    message: str
    line: int | None = None
    detail: str = ""
    #: For an invalid block declaration or registration: each reason on its own.
    reasons: tuple[str, ...] = ()

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.message}"


@dataclass
class DiscoveryReport:
    """What discovery found: blocks in import order, and every problem met on the way."""

    blocks: list[DiscoveredBlock] = field(default_factory=list)
    problems: list[DiscoveryProblem] = field(default_factory=list)
    modules: int = 0
    #: Test files and test directories below the roots, which were not imported.
    skipped: list[Path] = field(default_factory=list)


def discover(
    directories: list[str] | list[Path], on_found: Callable[[DiscoveredBlock], None] | None = None
) -> DiscoveryReport:
    """Import every block module below ``directories`` and collect the declared blocks.

    ``on_found`` is told each valid block as soon as its module is imported, while discovery goes
    on (a worker registers it meanwhile); whether the whole discovery is usable is known only from
    the report at the end.
    """
    sdk_bridge.prepare()  # the vendor SDK's connection plugins and log routing, when it is installed
    report = DiscoveryReport()
    for directory in directories:
        root = _resolved_dir(Path(directory))
        if root is None:
            report.problems.append(DiscoveryProblem(Path(directory), "is not a readable directory"))
            continue
        try:
            package = _mount_root(root)
        except Exception as exc:
            report.problems.append(_import_problem(root / "__init__.py", exc))
            continue
        for file in _module_files(root, report):
            module_name = ".".join([package, *file.relative_to(root).with_suffix("").parts])
            module_name = module_name.removesuffix(".__init__")
            found = len(report.blocks)
            _load(module_name, file, report)
            if on_found is not None:
                for block in report.blocks[found:]:
                    on_found(block)
    return report


def _resolved_dir(directory: Path) -> Path | None:
    """The directory's real path, or None if it is missing, not a directory or a symlink loop."""
    try:
        root = directory.expanduser().resolve()
        return root if root.is_dir() else None
    except (OSError, RuntimeError):
        return None


def _module_files(root: Path, report: DiscoveryReport) -> list[Path]:
    files: list[Path] = []
    try:
        entries = sorted(root.iterdir())
    except OSError as exc:
        report.problems.append(DiscoveryProblem(root, f"cannot be read: {exc.strerror or exc}"))
        return files
    for entry in entries:
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        if entry.is_dir():
            if entry.name in TEST_DIRS:
                report.skipped.append(entry)
            else:
                files.extend(_module_files(entry, report))
        elif entry.suffix == ".py":
            (report.skipped if is_test_file(entry.name) else files).append(entry)
    return files


def is_test_file(name: str) -> bool:
    """Whether a file name is one of a test module: ``test_*.py`` or ``conftest.py`` (not ``*_test.py``)."""
    return name.startswith("test_") or name == "conftest.py"


def _mount_root(root: Path) -> str:
    """Register ``root`` as a package under its own (sanitised, collision-free) name."""
    base = re.sub(r"\W", "_", root.name) or "function_blocks"
    if base[0].isdigit():
        base = f"_{base}"
    name, suffix = base, 1
    while name in sys.modules and _root_of(sys.modules[name]) != root:
        suffix += 1
        name = f"{base}__{suffix}"
    if name not in sys.modules:
        init = root / "__init__.py"
        if init.is_file():
            spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(root)])
            assert spec is not None
            assert spec.loader is not None
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            try:
                spec.loader.exec_module(module)
            except BaseException:
                del sys.modules[name]
                raise
        else:
            module = types.ModuleType(name)
            module.__path__ = [str(root)]
            sys.modules[name] = module
    return name


def _root_of(module: types.ModuleType) -> Path | None:
    paths = list(getattr(module, "__path__", []) or [])
    return Path(paths[0]).resolve() if paths else None


def _load(module_name: str, file: Path, report: DiscoveryReport) -> None:
    with unchecked_declarations(module_name):
        try:
            module = importlib.import_module(module_name)
        except Exception as exc:
            declared = _declared_in(_namespace_at(file, exc), module_name)
            report.problems.extend(_invalid(declared, file))
            report.problems.append(_import_problem(file, exc))
            return
    declared = _declared_in(vars(module), module_name)
    invalid = _invalid(declared, file)
    if invalid:
        # A module declaring an invalid block is broken as a whole, exactly as when the decorator
        # raised at its first invalid block; only now every invalid block of it is reported.
        _forget(module_name)
        report.problems.extend(invalid)
        return
    report.modules += 1
    report.blocks.extend(_discovered(cls, module_name, file) for cls in declared)


def _declared_in(namespace: dict[str, Any], module_name: str) -> list[BlockClass]:
    """The block classes a module's namespace declares itself (not those it imported), in order."""
    return [
        value
        for value in namespace.values()
        if inspect.isclass(value)
        and value.__module__ == module_name
        and "registration" in value.__dict__
        and issubclass(value, FunctionBlock)
    ]


def _invalid(declared: list[BlockClass], file: Path) -> list[DiscoveryProblem]:
    """A problem per invalid declaration or uncallable method; those classes lose their registration."""
    problems = []
    for cls in declared:
        error = definition_error(cls)
        found = [_definition_problem(file, error)] if error is not None else []
        found += _signature_problems(cls, file)
        if found:
            del cls.registration  # an invalid block is never served, as when the decorator raised
            problems.extend(found)
    return problems


def _signature_problems(cls: BlockClass, file: Path) -> list[DiscoveryProblem]:
    """A ``run``, ``acquire`` or ``rollback`` the worker cannot call, at the line that defines it."""
    where = declared_as(cls, cls.__dict__["registration"])
    return [
        DiscoveryProblem(
            problem.file or file,
            f"invalid function block {where}: {problem.text}",
            problem.line,
            "",
            (problem.text,),
        )
        for problem in BlockCalls.of(cls).problems
    ]


def _namespace_at(file: Path, exc: BaseException) -> dict[str, Any]:
    """What ``file`` had defined when its import failed: the globals of its top-level frame."""
    for frame, _line in traceback.walk_tb(exc.__traceback__):
        if frame.f_code.co_name == "<module>" and Path(frame.f_code.co_filename) == file:
            return frame.f_globals
    return {}


def _discovered(cls: BlockClass, module_name: str, file: Path) -> DiscoveredBlock:
    registration: Registration = cls.__dict__["registration"]
    line = registration.source[1] if registration.source else None
    return DiscoveredBlock(cls, registration, module_name, file, line)


def _forget(module_name: str) -> None:
    """Undo the import of ``module_name``, as a failed import would have left things."""
    sys.modules.pop(module_name, None)
    parent, _, child = module_name.rpartition(".")
    if parent in sys.modules:
        with contextlib.suppress(AttributeError):
            delattr(sys.modules[parent], child)


def _definition_problem(file: Path, error: FunctionBlockDefinitionError) -> DiscoveryProblem:
    line = error.source[1] if error.source else None
    message = f"invalid function block {error.where}: " + "; ".join(error.problems)
    return DiscoveryProblem(file, message, line, reasons=tuple(error.problems))


def _import_problem(file: Path, exc: BaseException) -> DiscoveryProblem:
    line = exc.lineno if isinstance(exc, SyntaxError) and exc.lineno else _line_in(file, exc)
    detail = "".join(traceback.format_exception(exc))
    message = f"failed to import: {type(exc).__name__}: {exc}{_port_hint(exc)}"
    return DiscoveryProblem(file, message, line, detail, _reasons(exc))


#: The hints of a failed import of the vendor SDK: before ``port`` ran, and after (what it left).
PORT_HINT = " (a block written for the vendor SDK: 'neops_worker port' rewrites its imports)"
KEPT_HINT = (
    " (the vendor SDK's connection layer: install neops_worker_sdk beside neops_worker; "
    "see docs/sdk-side-by-side.md)"
)
UNPORTED_HINT = (
    " ({names} no equivalent in neops_worker: port that code by hand, or install neops_worker_sdk "
    "beside neops_worker; see docs/porting-from-the-sdk.md)"
)


def _port_hint(exc: BaseException) -> str:
    """What to do about an import of the vendor SDK (not installed here), from the statement that failed.

    Before ``neops_worker port`` has run, that statement names something ``port`` rewrites; after,
    what is left of the SDK there has no equivalent here (each name is said), or is its connection layer.
    """
    missing = exc.name if isinstance(exc, ModuleNotFoundError) else None
    if not missing or not sdk_mapping.is_sdk_module(missing):
        return ""
    frames = traceback.extract_tb(exc.__traceback__)  # the last one is the failed import statement
    found = _imports_at(Path(frames[-1].filename), frames[-1].lineno or 0) if frames else []
    sdk = [(module, name) for module, name in found if sdk_mapping.is_sdk_module(module)]
    left = [f"{module}.{name}" if name else module for module, name in sdk if not _portable(module, name)]
    if not sdk or len(left) < len(sdk):
        return PORT_HINT
    unported = [name for name in left if not sdk_mapping.is_kept(name)]
    if not unported:
        return KEPT_HINT
    return UNPORTED_HINT.format(names=f"{', '.join(unported)} {'has' if len(unported) == 1 else 'have'}")


def _portable(module: str, name: str | None) -> bool:
    """Whether ``port`` rewrites ``from module import name`` (``import module`` when ``name`` is None)."""
    if name is None:
        return sdk_mapping.our_module(module) is not None
    return sdk_mapping.target_of(module, name) is not None


def _imports_at(file: Path, line: int) -> list[tuple[str, str | None]]:
    """What the import statement at ``file:line`` imports, as ``(module, name)``; no name for ``import``."""
    try:
        tree = ast.parse(file.read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom) and node.lineno <= line <= (node.end_lineno or line):
            if isinstance(node, ast.Import):
                return [(alias.name, None) for alias in node.names]
            absolute = None if node.level else node.module
            return [(absolute, alias.name) for alias in node.names] if absolute else []
    return []


def _reasons(exc: BaseException) -> tuple[str, ...]:
    """The separate reasons of an invalid declaration or model (``Registration(...)`` itself)."""
    if isinstance(exc, FunctionBlockDefinitionError):
        return tuple(exc.problems)
    if isinstance(exc, ValidationError):
        return tuple(validation_problems(exc))
    return ()


def _line_in(file: Path, exc: BaseException) -> int | None:
    """The line of ``file`` the exception's traceback last passed through."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename) == file]
    return frames[-1].lineno if frames else None
