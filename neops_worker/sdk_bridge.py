"""Side by side with the vendor SDK: its connection plugins and its log output, when it is installed."""

from __future__ import annotations

import importlib.util

SDK_PACKAGE = "neops_worker_sdk"

_prepared = False


def prepare() -> None:
    """Make the vendor SDK's connection layer usable by blocks, if the SDK is installed (idempotent)."""
    global _prepared  # noqa: PLW0603 - once per process, before the first block is imported
    if _prepared:
        return
    _prepared = True
    if importlib.util.find_spec(SDK_PACKAGE) is None:
        return
