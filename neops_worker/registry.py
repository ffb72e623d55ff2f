"""The registry: function-block id -> block, the duplicate check, and the registration bodies."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from neops_worker.blocks.base import implements_rollback
from neops_worker.discovery import DiscoveredBlock, DiscoveryReport
from neops_worker.engine.wire import RegisterFunctionBlock, Versionable, parse_fb_id
from neops_worker.errors import DiscoveryError

BlockKey = tuple[str, str, tuple[int, int, int]]


def find_blocks(reference: str, blocks: Iterable[DiscoveredBlock]) -> list[DiscoveredBlock]:
    """The blocks ``reference`` names: a full id (versions compared as numbers), ``package/name``, a name."""
    blocks = list(blocks)
    parts = parse_fb_id(reference)
    if parts is not None:
        exact = [b for b in blocks if block_key(b) == parts]
        if exact:
            return exact
    return [b for b in blocks if reference in (b.registration.name, _package_name(b))]


def block_key(block: DiscoveredBlock) -> BlockKey:
    """A block's identity as parsed ids compare: package, name and the version as numbers."""
    reg = block.registration
    return reg.package, reg.name, reg.version


def _package_name(block: DiscoveredBlock) -> str:
    return f"{block.registration.package}/{block.registration.name}"


def duplicate_problems(blocks: list[DiscoveredBlock]) -> list[str]:
    """One line per id declared twice, naming both places."""
    seen: dict[str, DiscoveredBlock] = {}
    problems = []
    for block in blocks:
        first = seen.setdefault(block.fb_id, block)
        if first is not block:
            problems.append(
                f"function block {block.fb_id} is declared twice: in {first.where} and in {block.where}"
            )
    return problems


class Registry:
    """The blocks this worker serves, looked up by the ``functionBlockId`` jobs carry."""

    def __init__(self, blocks: list[DiscoveredBlock]) -> None:
        problems = duplicate_problems(blocks)
        if problems:
            raise DiscoveryError(problems)
        self._blocks = list(blocks)
        self._by_key: dict[BlockKey, DiscoveredBlock] = {block_key(b): b for b in blocks}
        self._identities = [
            Versionable(
                package=b.registration.package,
                name=b.registration.name,
                major_version=b.registration.version[0],
                minor_version=b.registration.version[1],
                patch_version=b.registration.version[2],
            )
            for b in blocks
        ]

    @classmethod
    def from_report(cls, report: DiscoveryReport, skip_broken: bool = False) -> Registry:
        """The registry of a discovery run; import problems are fatal unless ``skip_broken``."""
        if report.problems and not skip_broken:
            raise DiscoveryError([str(problem) for problem in report.problems])
        if not report.blocks:
            raise DiscoveryError(["no function blocks found (check DIR_FUNCTION_BLOCKS)"])
        return cls(report.blocks)

    def __len__(self) -> int:
        return len(self._blocks)

    def __iter__(self) -> Iterator[DiscoveredBlock]:
        return iter(self._blocks)

    def get(self, fb_id: str) -> DiscoveredBlock | None:
        """The block a job names; the id is parsed and its version compared numerically."""
        parts = parse_fb_id(fb_id)
        return self._by_key.get(parts) if parts else None

    def find(self, reference: str) -> list[DiscoveredBlock]:
        """Blocks matching a full id, ``package/name`` or a bare name (see ``find_blocks``)."""
        return find_blocks(reference, self._blocks)

    def identities(self) -> list[Versionable]:
        """The ``functionBlockIds`` of a poll."""
        return list(self._identities)

    def registration_bodies(self, worker_id: str) -> list[RegisterFunctionBlock]:
        """One ``RegisterFunctionBlockDto`` per block, tied to ``worker_id``."""
        return [registration_body(b, worker_id) for b in self._blocks]


def is_reversible(block: DiscoveredBlock) -> bool:
    """The block's ``reversible`` flag: as its registration says, else whether it implements rollback."""
    declared = block.registration.reversible
    return implements_rollback(block.cls) if declared is None else declared


def reversibility(block: DiscoveredBlock) -> str:
    """Whether the block is reversible and why, in a few words (``reversible (implements rollback)``)."""
    reversible, implemented = is_reversible(block), implements_rollback(block.cls)
    if reversible == implemented:
        return "reversible (implements rollback)" if reversible else "not reversible (no rollback)"
    if reversible:
        return "reversible (declared, but it has no rollback of its own: rollback jobs fail)"
    return "not reversible (declared, though it implements rollback)"


def registration_body(block: DiscoveredBlock, worker_id: str | None) -> RegisterFunctionBlock:
    """The registration request of one block, with its ``reversible`` flag (``is_reversible``).

    The engine client leaves the flag out for engines that do not know it (REGISTER_REVERSIBLE).
    """
    reg = block.registration
    major, minor, patch = reg.version
    return RegisterFunctionBlock(
        package=reg.package,
        name=reg.name,
        major_version=major,
        minor_version=minor,
        patch_version=patch,
        worker_id=worker_id,
        description=reg.description,
        run_on=reg.run_on,
        fb_type=reg.fb_type,
        markdown_help_text=reg.markdown_helptext or "No helptext provided",
        deprecated=reg.deprecated,
        parameter_json_schema=reg.parameter_json_schema(),
        result_data_json_schema=reg.result_data_json_schema(),
        is_idempotent=reg.is_idempotent,
        is_pure=reg.is_pure,
        reversible=is_reversible(block),
    )
