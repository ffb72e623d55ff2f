"""How the worker calls a block's ``run``, ``acquire`` and ``rollback``, read once from their signatures.

The worker passes, positionally and in this order::

    run(params, context[, meta])
    acquire(params[, meta])
    rollback(params, context[, result_from_failed][, meta])

Each method gets as many of them as it declares positional parameters for: ``meta`` (a
:class:`~neops_worker.blocks.meta.JobMeta`) only to a method with a parameter for it after the
others, and ``result_from_failed`` (always ``None``) only to a ``rollback`` with a third one. A
parameter named ``meta`` takes the job meta wherever it stands (``rollback(self, params, context,
meta)``, or keyword-only after ``*``). A method with ``*args`` gets what the worker always passed
(``run(params, context)``, ``acquire(params)``, ``rollback(params, context, None)``), no meta.

A method that cannot be called so (it needs a parameter the worker never passes, or has no room
for ``params`` or ``context``) is a problem of the block's declaration, found at discovery with
the method's file and line, never a failed job.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_KIND_MARK: dict[object, str] = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
META = "meta"

#: Entry point -> (what the worker passes, in order, of which the first ones are always passed).
_ARGUMENTS: dict[str, tuple[tuple[str, ...], int]] = {
    "run": (("params", "context", META), 2),
    "acquire": (("params", META), 1),
    "rollback": (("params", "context", "result_from_failed", META), 2),
}
#: Entry point -> how the worker calls it, as problems say it.
_CALLED = {
    "run": "run(params, context[, meta])",
    "acquire": "acquire(params[, meta])",
    "rollback": "rollback(params, context[, result_from_failed][, meta])",
}


@dataclass(frozen=True, slots=True)
class Call:
    """How the worker calls one entry point: the arguments it passes by position, then by keyword."""

    positional: tuple[str, ...]
    keyword: tuple[str, ...] = ()
    #: Whether the method receives the job meta (asked per job: a field, not a property).
    wants_meta: bool = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "wants_meta", META in self.positional or META in self.keyword)

    def invoke(self, method: Callable[..., Any], values: Mapping[str, Any]) -> Any:
        """Call ``method`` with ``values`` (by argument name) as this call passes them."""
        args = [values[name] for name in self.positional]
        if self.keyword:
            return method(*args, **{name: values[name] for name in self.keyword})
        return method(*args)


@dataclass(frozen=True, slots=True)
class SignatureProblem:
    """A method the worker cannot call as it calls it: why, and where it is defined."""

    text: str
    file: Path | None
    line: int | None

    def __str__(self) -> str:
        return f"{self.text} (at {self.file}:{self.line})" if self.file and self.line else self.text


@dataclass(frozen=True, slots=True)
class BlockCalls:
    """How the worker calls a block class's three entry points, and what stops it from doing so."""

    run: Call
    acquire: Call
    rollback: Call
    problems: tuple[SignatureProblem, ...] = ()

    @classmethod
    def of(cls, block: type) -> BlockCalls:
        """Read the signatures of ``block``'s ``run``, ``acquire`` and ``rollback``."""
        found = {name: _call_of(block, name) for name in _ARGUMENTS}
        problems = tuple(problem for _call, problems in found.values() for problem in problems)
        return cls(found["run"][0], found["acquire"][0], found["rollback"][0], problems)


def _call_of(block: type, name: str) -> tuple[Call, list[SignatureProblem]]:
    arguments = _ARGUMENTS[name][0]
    method = getattr(block, name)
    try:
        signature = inspect.signature(method)
    except (TypeError, ValueError):  # nothing to read (a C callable): call it as the worker always did
        return Call(tuple(argument for argument in arguments if argument != META)), []
    parameters = list(signature.parameters.values())
    if not isinstance(inspect.getattr_static(block, name), staticmethod | classmethod):
        parameters = parameters[1:]  # self
    call = _matched(parameters, arguments)
    shown = f"{name}({_shown(signature)})"
    file, line = _defined_at(method)
    texts = _mismatches(parameters, call, name)
    return call, [SignatureProblem(f"{shown} {text}", file, line) for text in texts]


def _matched(parameters: list[inspect.Parameter], arguments: tuple[str, ...]) -> Call:
    """The arguments the parameters take: in order by position, ``meta`` to a parameter of that name."""
    pending = [argument for argument in arguments if argument != META]
    named = {p.name: p.kind for p in parameters}
    meta_named = named.get(META) in _POSITIONAL
    positional: list[str] = []
    for parameter in parameters:
        if parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            positional.extend(pending)
            break
        if parameter.kind not in _POSITIONAL:
            break
        if parameter.name == META or not (pending or meta_named):
            positional.append(META)
            break
        if not pending:
            break
        positional.append(pending.pop(0))
    keyword = (META,) if named.get(META) is inspect.Parameter.KEYWORD_ONLY else ()
    return Call(tuple(positional), keyword)


def _mismatches(parameters: list[inspect.Parameter], call: Call, name: str) -> list[str]:
    """Why ``call`` does not fit: an argument always passed with no room, a parameter never filled."""
    arguments, always = _ARGUMENTS[name]
    texts = [
        f"takes no {argument!r}, which the worker always passes (it calls {_CALLED[name]})"
        for argument in arguments[:always]
        if argument not in call.positional
    ]
    filled = len(call.positional)
    for index, parameter in enumerate(parameters):
        given = parameter.name in call.keyword or (parameter.kind in _POSITIONAL and index < filled)
        # ``meta`` is always there to pass: left out only behind a parameter that is the problem.
        needed = parameter.default is inspect.Parameter.empty and parameter.kind not in _KIND_MARK
        if needed and not given and parameter.name != META:
            texts.append(
                f"needs {parameter.name!r}, which the worker never passes (give it a default, or remove it)"
            )
    return texts


def _shown(signature: inspect.Signature) -> str:
    """The parameter list as written, names only (``self, params, context, *, meta``)."""
    shown: list[str] = []
    star = False
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.KEYWORD_ONLY and not star:
            shown.append("*")
        star = star or parameter.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_POSITIONAL)
        shown.append(_KIND_MARK.get(parameter.kind, "") + parameter.name)
    return ", ".join(shown)


def _defined_at(method: Any) -> tuple[Path | None, int | None]:
    """The file and first line of ``method``'s definition (through wrappers that say what they wrap)."""
    code = getattr(inspect.unwrap(getattr(method, "__func__", method)), "__code__", None)
    if code is None:
        return None, None
    return Path(code.co_filename), code.co_firstlineno
