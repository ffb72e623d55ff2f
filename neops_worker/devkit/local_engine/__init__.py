"""The local engine: a stand-in for the neops 2.0 blackboard, for development, demos and tests.

It is **not the production engine**. It speaks the worker-facing contract (same paths, camelCase
JSON bodies and status codes) of client 0.43.0b8, or of 0.42.1 (``EngineOptions.contract``), keeps
workers, function blocks, runs, jobs and results in a SQLite file, and adds development-only
endpoints under ``/_dev/`` to queue jobs, roll failed ones back and look inside. It runs no
workflows: jobs come only from ``POST /_dev/jobs`` (or :meth:`EngineStore.add_job`), each a one-step
run that a 0.43 engine retries (pure or idempotent blocks) and rolls back (reversible blocks) as the
contract's section 5.2 describes. Licence limits, body limits and the stuck-job timeout are options.

Entry points:

- :class:`LocalEngine`: serve from a background thread (tests): ``with LocalEngine() as engine: engine.url``.
- :class:`EngineProcess`: run ``python -m neops_worker.devkit.local_engine`` as a child process
  (kill/restart tests).
- :func:`serve`: serve in the foreground until SIGINT/SIGTERM (the ``neops_worker engine`` command).
- :func:`create_app` and :class:`EngineStore`: the ASGI app and the SQLite store on their own.

The HTTP parts need the ``engine`` dependency group (starlette, uvicorn). They are imported lazily,
so importing this package, the store or the process runner works without it; asking for
:class:`LocalEngine`, :func:`serve` or :func:`create_app` without it raises :class:`EngineDependencyError`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from neops_worker.devkit.local_engine._deps import (
    ENGINE_DEPS_HINT,
    EngineDependencyError,
    require_engine_deps,
)
from neops_worker.devkit.local_engine.options import EngineOptions, default_db_path
from neops_worker.devkit.local_engine.process import EngineProcess
from neops_worker.devkit.local_engine.store import EngineStore

if TYPE_CHECKING:
    from neops_worker.devkit.local_engine.app import create_app
    from neops_worker.devkit.local_engine.server import LocalEngine, serve

#: Names served from modules that need starlette/uvicorn, imported on first access.
_LAZY = {
    "LocalEngine": "neops_worker.devkit.local_engine.server",
    "serve": "neops_worker.devkit.local_engine.server",
    "create_app": "neops_worker.devkit.local_engine.app",
}


def __getattr__(name: str) -> Any:
    """Import the HTTP parts on first use, with a clear error if their dependencies are missing."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    require_engine_deps()
    return getattr(importlib.import_module(module), name)


__all__ = [
    "ENGINE_DEPS_HINT",
    "EngineDependencyError",
    "EngineOptions",
    "EngineProcess",
    "EngineStore",
    "LocalEngine",
    "create_app",
    "default_db_path",
    "require_engine_deps",
    "serve",
]
