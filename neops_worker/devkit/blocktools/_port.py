"""``neops_worker port``'s engine: rewrite the vendor SDK's imports to ours, keeping everything else as it is.

Each file is parsed with libcst, so formatting and comments stay exactly as they were; only the
module paths of imports change, following the one table of :mod:`neops_worker.sdk.mapping`. What
cannot be rewritten is reported with its file and line: a name the table does not have (left in
an import of its own from the SDK, so the file still says what is missing), a module the table
does not have, a file that does not parse. Imports of the SDK's connection layer stay, and are
reported as such: they need the SDK installed beside this project.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst
from libcst.helpers import get_full_name_for_node
from libcst.metadata import MetadataWrapper, PositionProvider

from neops_worker.sdk import mapping

#: Where the guide explains running next to the installed SDK.
SIDE_BY_SIDE_GUIDE = "docs/sdk-side-by-side.md"


@dataclass(frozen=True)
class Note:
    """Something ``port`` did not rewrite, where it is, and whether a person must act on it."""

    path: Path
    line: int
    message: str
    #: True: left to do by hand; False: left on purpose (the SDK's connection layer).
    by_hand: bool = True

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.message}"


@dataclass
class PortedFile:
    """One file before and after the rewrite, with its notes."""

    path: Path
    before: str
    after: str
    notes: list[Note] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """Whether the rewrite changed the file."""
        return self.before != self.after

    def diff(self) -> str:
        """The change as a unified diff (empty when nothing changed)."""
        shown = _shown(self.path)
        lines = difflib.unified_diff(
            self.before.splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            fromfile=shown if shown.startswith("/") else f"a/{shown}",
            tofile=shown if shown.startswith("/") else f"b/{shown}",
        )
        return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it lies below it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


def python_files(paths: Sequence[Path]) -> Iterator[Path]:
    """The ``.py`` files ``paths`` name: files as given, directories searched (no dot-dirs, no caches)."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                file
                for file in path.rglob("*.py")
                if not any(
                    part.startswith(".") or part == "__pycache__" for part in file.relative_to(path).parts
                )
            )
        else:
            yield path


def port_file(path: Path) -> PortedFile:
    """Read ``path`` and rewrite its imports (the file itself is not written)."""
    source = path.read_text(encoding="utf-8")
    try:
        wrapper = MetadataWrapper(cst.parse_module(source))
    except cst.ParserSyntaxError as exc:
        return PortedFile(
            path, source, source, [Note(path, exc.raw_line, f"cannot be parsed: {exc.message}")]
        )
    rewriter = _ImportRewriter(path)
    after = wrapper.visit(rewriter).code
    return PortedFile(path, source, after, rewriter.notes)


def _dotted(node: cst.CSTNode | None) -> str | None:
    return get_full_name_for_node(node) if node is not None else None


def _module_node(dotted: str) -> cst.Attribute | cst.Name:
    node = cst.parse_expression(dotted)
    assert isinstance(node, cst.Attribute | cst.Name)
    return node


class _ImportRewriter(cst.CSTTransformer):
    """Rewrites SDK imports (and the dotted references of plain ``import a.b``) to the mapped modules."""

    METADATA_DEPENDENCIES = (PositionProvider,)

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.notes: list[Note] = []
        #: ``import a.b.c`` of an SDK module: its dotted references are rewritten too.
        self._dotted_renames: dict[str, str] = {}
        #: Names bound to SDK modules (``import a.b as x``, ``import a``), to check their attributes.
        self._module_names: dict[str, str] = {}

    # --- notes ---------------------------------------------------------------------------------

    def _line(self, node: cst.CSTNode) -> int:
        return int(self.get_metadata(PositionProvider, node).start.line)

    def _by_hand(self, node: cst.CSTNode, message: str) -> None:
        self.notes.append(Note(self.path, self._line(node), message))

    def _kept(self, node: cst.CSTNode, module: str) -> None:
        message = (
            f"{module}: left as it is; the SDK's connection layer needs neops_worker_sdk installed "
            f"beside neops_worker (see {SIDE_BY_SIDE_GUIDE})"
        )
        self.notes.append(Note(self.path, self._line(node), message, by_hand=False))

    def _unknown_name(self, node: cst.CSTNode, module: str, name: str) -> None:
        self._by_hand(node, f"{module}.{name} has no equivalent in neops_worker; port it by hand")

    # --- from a import b -----------------------------------------------------------------------

    def leave_SimpleStatementLine(  # noqa: N802 - libcst's visitor naming
        self, original_node: cst.SimpleStatementLine, updated_node: cst.SimpleStatementLine
    ) -> cst.SimpleStatementLine | cst.FlattenSentinel[cst.SimpleStatementLine]:
        """Rewrite a line holding one ``from ... import``, splitting off the names that stay."""
        if len(updated_node.body) != 1 or not isinstance(updated_node.body[0], cst.ImportFrom):
            return updated_node
        statement = updated_node.body[0]
        module = _dotted(statement.module) if not statement.relative else None
        if module is None or not mapping.is_sdk_module(module):
            return updated_node
        if mapping.is_kept(module):
            self._kept(original_node, module)
            return updated_node
        return self._rewrite_from(original_node, updated_node, statement, module)

    def _rewrite_from(
        self,
        original: cst.SimpleStatementLine,
        line: cst.SimpleStatementLine,
        statement: cst.ImportFrom,
        module: str,
    ) -> cst.SimpleStatementLine | cst.FlattenSentinel[cst.SimpleStatementLine]:
        if isinstance(statement.names, cst.ImportStar):
            ours = mapping.our_module(module)
            if ours is None:
                self._by_hand(original, f"{module} has no equivalent in neops_worker; port it by hand")
                return line
            return line.with_changes(body=[statement.with_changes(module=_module_node(ours))])
        groups: dict[str | None, list[cst.ImportAlias]] = {}
        for alias in statement.names:
            target = mapping.target_of(module, _alias_name(alias))
            groups.setdefault(target, []).append(alias)
            if target is None:
                self._unknown_name(original, module, _alias_name(alias))
        statements = [
            _with_names(statement, aliases).with_changes(
                module=_module_node(target) if target else statement.module
            )
            for target, aliases in sorted(groups.items(), key=lambda group: group[0] is None)
        ]
        if len(statements) == 1:
            return line.with_changes(body=statements)
        rest = [
            cst.SimpleStatementLine(body=[one], trailing_whitespace=line.trailing_whitespace)
            for one in statements
        ]
        return cst.FlattenSentinel([line.with_changes(body=[statements[0]]), *rest[1:]])

    # --- import a.b [as c] ---------------------------------------------------------------------

    def visit_Import(self, node: cst.Import) -> None:  # noqa: N802 - libcst's visitor naming
        """Note the plain ``import a.b.c`` of SDK modules, whose dotted references are rewritten."""
        for alias in node.names:
            dotted = _dotted(alias.name)
            ours = mapping.our_module(dotted) if dotted else None
            if dotted and ours and alias.asname is None and "." in dotted:
                self._dotted_renames[dotted] = ours

    def leave_Import(  # noqa: N802 - libcst's visitor naming
        self, original_node: cst.Import, updated_node: cst.Import
    ) -> cst.Import:
        """Rewrite ``import a.b as c`` and ``import a``; ``import a.b.c`` is rewritten with its references."""
        names = [self._rewrite_alias(original_node, alias) for alias in updated_node.names]
        return updated_node.with_changes(names=names)

    def _rewrite_alias(self, node: cst.Import, alias: cst.ImportAlias) -> cst.ImportAlias:
        dotted = _dotted(alias.name)
        if dotted is None or not mapping.is_sdk_module(dotted):
            return alias
        if mapping.is_kept(dotted):
            self._kept(node, dotted)
            return alias
        ours = mapping.our_module(dotted)
        if ours is None:
            self._by_hand(node, f"{dotted} has no equivalent in neops_worker; port it by hand")
            return alias
        bound = _dotted(alias.asname.name) if alias.asname else dotted
        self._module_names[bound or dotted] = dotted
        if alias.asname is None and "." not in dotted:
            # ``import a`` -> ``import ours as a``: every reference to ``a`` stays as it is.
            asname = cst.AsName(name=cst.Name(dotted))
            return alias.with_changes(name=_module_node(ours), asname=asname)
        return alias.with_changes(name=_module_node(ours))

    def leave_Attribute(  # noqa: N802 - libcst's visitor naming
        self, original_node: cst.Attribute, updated_node: cst.Attribute
    ) -> cst.Attribute | cst.Name:
        """``a.b.c`` of a plainly imported SDK module becomes ours; unknown ``module.Name`` is noted."""
        dotted = _dotted(original_node)
        if dotted in self._dotted_renames:
            return _module_node(self._dotted_renames[dotted])
        owner = _dotted(original_node.value)
        module = self._module_names.get(owner or "")
        if module is not None and mapping.target_of(module, original_node.attr.value) is None:
            self._unknown_name(original_node, module, original_node.attr.value)
        return updated_node


def _alias_name(alias: cst.ImportAlias) -> str:
    return _dotted(alias.name) or ""


def _with_names(statement: cst.ImportFrom, names: list[cst.ImportAlias]) -> cst.ImportFrom:
    """``statement`` importing only ``names``; a trailing comma stays only inside parentheses."""
    if statement.lpar is None:
        names = [*names[:-1], names[-1].with_changes(comma=cst.MaybeSentinel.DEFAULT)]
    return statement.with_changes(names=names)


__all__ = ["Note", "PortedFile", "port_file", "python_files"]
