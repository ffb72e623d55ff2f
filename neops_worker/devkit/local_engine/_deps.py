"""Whether the local engine's HTTP dependencies (the ``engine`` dependency group) are installed."""

from __future__ import annotations

import importlib.util

#: Shown whenever the HTTP parts are asked for without their dependencies.
ENGINE_DEPS_HINT = "the local engine needs the 'engine' dependency group: uv sync --group engine"


class EngineDependencyError(ImportError):
    """starlette or uvicorn is missing: the ``engine`` dependency group is not installed."""


def require_engine_deps() -> None:
    """Raise :class:`EngineDependencyError` with the install hint unless starlette and uvicorn import."""
    missing = [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]
    if missing:
        raise EngineDependencyError(f"{ENGINE_DEPS_HINT} (missing: {', '.join(missing)})")
