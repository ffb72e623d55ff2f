"""Loading block directories for the developer commands, finding one block, and checking them all."""

from __future__ import annotations

import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from neops_worker.blocks.base import FunctionBlock, implements_rollback
from neops_worker.discovery import DiscoveredBlock, DiscoveryProblem, DiscoveryReport, discover
from neops_worker.errors import ConfigurationError
from neops_worker.registry import find_blocks, is_reversible, registration_body, reversibility


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a block directory, where it is (when known), and its details."""

    message: str
    path: Path | None = None
    line: int | None = None
    details: tuple[str, ...] = ()

    @property
    def where(self) -> str:
        """``file:line`` (relative to the working directory when below it), or empty."""
        return location(self.path, self.line) if self.path else ""

    def to_json(self) -> dict[str, Any]:
        """The problem as a JSON object for ``check --json``."""
        path = display_path(self.path) if self.path else None
        return {"file": path, "line": self.line, "message": self.message, "details": list(self.details)}


@dataclass
class LoadedBlocks:
    """The blocks of some directories: each id once, and what went wrong while loading them."""

    directories: list[str]
    report: DiscoveryReport
    blocks: list[DiscoveredBlock] = field(default_factory=list)
    duplicates: dict[str, list[DiscoveredBlock]] = field(default_factory=dict)

    def problems(self) -> list[Problem]:
        """Import problems and duplicate ids, each with file and line where known."""
        found = [from_discovery(problem) for problem in self.report.problems]
        for fb_id, (first, *copies) in self.duplicates.items():
            for copy in copies:
                message = f"function block {fb_id} is declared twice: first at {block_where(first)}"
                found.append(Problem(message, copy.file, copy.line))
        return found


def load_blocks(directories: list[str]) -> LoadedBlocks:
    """Import every block module below ``directories``; a duplicate id keeps its first declaration."""
    report = discover(directories)
    loaded = LoadedBlocks(directories, report)
    seen: dict[str, DiscoveredBlock] = {}
    for block in report.blocks:
        first = seen.setdefault(block.fb_id, block)
        if first is block:
            loaded.blocks.append(block)
        else:
            loaded.duplicates.setdefault(block.fb_id, [first]).append(block)
    return loaded


def find_block(loaded: LoadedBlocks, reference: str) -> DiscoveredBlock:
    """The one block ``reference`` names (full id, ``package/name`` or name); else a usage error."""
    found = find_blocks(reference, loaded.blocks)
    if not found:
        raise ConfigurationError(_unknown_message(loaded, reference))
    if len(found) > 1:
        ids = ", ".join(block.fb_id for block in found)
        raise ConfigurationError(f"{reference!r} is ambiguous: it names {ids}; give the full id")
    block = found[0]
    if block.fb_id in loaded.duplicates:
        places = " and ".join(block_where(b) for b in loaded.duplicates[block.fb_id])
        raise ConfigurationError(f"function block {block.fb_id} is declared twice: in {places}")
    return block


def _unknown_message(loaded: LoadedBlocks, reference: str) -> str:
    where = ", ".join(loaded.directories)
    message = f"no function block {reference!r} in {where}"
    if loaded.blocks:
        message += " (known: " + ", ".join(block.fb_id for block in loaded.blocks) + ")"
    if loaded.report.problems:
        message += f"; {len(loaded.report.problems)} module(s) failed to load, see 'neops_worker check'"
    return message


# --- check ----------------------------------------------------------------------------------


def check_blocks(directories: list[str]) -> tuple[LoadedBlocks, list[Problem]]:
    """Load ``directories`` and list every problem of every block and module, all at once."""
    loaded = load_blocks(directories)
    problems = loaded.problems()
    for block in loaded.blocks:
        problems.extend(block_problems(block))
    problems.sort(key=lambda p: (p.path is None, str(p.path), p.line or 0))
    if not loaded.blocks and not loaded.duplicates:
        problems.append(Problem(f"no function blocks found in {', '.join(directories)}"))
    return loaded, problems


def block_problems(block: DiscoveredBlock) -> list[Problem]:
    """What is wrong with one discovered block: its registration, its body, its ``run``."""
    reasons = [one_line(reason) for reason in block.registration.problems()]
    if inspect.getattr_static(block.cls, "run") is inspect.getattr_static(FunctionBlock, "run"):
        reasons.append("the class does not implement run()")
    if not reasons:
        try:
            json.dumps(registration_body(block, None).to_wire())
        except (TypeError, ValueError) as exc:
            reasons.append(f"its registration body is not JSON: {type(exc).__name__}: {exc}")
    if not reasons:
        return []
    return [Problem(f"invalid function block {block.fb_id}", block.file, block.line, tuple(reasons))]


def from_discovery(problem: DiscoveryProblem) -> Problem:
    """A discovery problem as a check problem: its first line, and each reason as a detail."""
    message = problem.message.removesuffix(": " + "; ".join(problem.reasons))
    message = (message.splitlines() or [""])[0]
    return Problem(message, problem.path, problem.line, tuple(map(one_line, problem.reasons)))


def one_line(text: str) -> str:
    """A multi-line reason (pydantic's) on one line, without its documentation link."""
    lines = [line.strip() for line in text.splitlines()]
    return " ".join(line for line in lines if line and not line.startswith("For further information"))


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def location(path: Path, line: int | None) -> str:
    """``file:line``, the file shown as ``display_path`` does."""
    shown = display_path(path)
    return f"{shown}:{line}" if line else shown


def block_where(block: DiscoveredBlock) -> str:
    """``file:line`` of a block's declaration."""
    return location(block.file, block.line)


def skipped_entry(path: Path) -> str:
    """A skipped test file or directory as shown (relative below the working directory; dirs end in ``/``)."""
    return display_path(path) + ("/" if path.is_dir() else "")


def rollback_notes(blocks: list[DiscoveredBlock]) -> list[tuple[str, str]]:
    """``(id, reversible or not and why)`` for each block that is reversible or implements rollback."""
    return [
        (block.fb_id, reversibility(block))
        for block in blocks
        if is_reversible(block) or implements_rollback(block.cls)
    ]


def block_summary(block: DiscoveredBlock) -> dict[str, Any]:
    """A block's identity, metadata and source, for ``blocks --json``."""
    reg = block.registration
    return {
        "id": block.fb_id,
        "package": reg.package,
        "name": reg.name,
        "version": ".".join(str(part) for part in reg.version),
        "description": reg.description,
        "run_on": reg.run_on,
        "fb_type": reg.fb_type,
        "is_pure": reg.is_pure,
        "is_idempotent": reg.is_idempotent,
        "reversible": is_reversible(block),
        "deprecated": reg.deprecated,
        "module": block.module,
        "file": display_path(block.file),
        "line": block.line,
    }
