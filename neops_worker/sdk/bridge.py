"""Side by side with the vendor SDK installed as a library: its connection plugins and its log lines.

When ``neops_worker_sdk`` is importable, :func:`prepare` does what the SDK's own worker does before
it imports a block: it imports the SDK's bundled connection-plugin package, whose modules register
their plugins as they are imported, so a block resolves a connection proxy without importing a
plugin itself. It also sends the SDK's loguru output through the standard ``logging`` tree: the
SDK's logger module adds a loguru sink on stdout when it is imported, which would put its lines
ahead of ``--json`` output and outside the worker's log format (JSON lines, job fields, redaction).
Without the SDK, nothing is imported.

The SDK ships a console script named ``neops_worker`` too, and whichever distribution is installed
last owns that file; :func:`sdk_script_warning` says so when the one on ``PATH`` is the SDK's.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import importlib.util
import logging
import shutil
from pathlib import Path
from typing import Any

SDK_PACKAGE = "neops_worker_sdk"
#: The command both distributions install; the last one installed wins.
SHARED_SCRIPT = "neops_worker"
#: Our second command, which only this distribution installs.
OWN_SCRIPT = "neops-worker"

log = logging.getLogger(__name__)

_prepared = False
#: Attributes every LogRecord has: loguru context under these names cannot become record fields.
_RECORD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}
_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL)
#: Bytes of a console script read to tell whose it is (generated scripts name their module early).
_SCRIPT_HEAD = 4096


def sdk_installed() -> bool:
    """Whether the vendor SDK can be imported here (looked up without importing it)."""
    return importlib.util.find_spec(SDK_PACKAGE) is not None


def prepare() -> None:
    """Load the vendor SDK's connection plugins and route its loguru output, if it is installed."""
    global _prepared  # noqa: PLW0603 - once per process, before the first block is imported
    if _prepared:
        return
    _prepared = True
    if not sdk_installed():
        return
    try:
        _route_loguru()
        _load_connection_plugins()
    except Exception as exc:  # a broken SDK must not stop the blocks that do not use it
        log.warning("The vendor SDK is installed but could not be prepared: %s: %s", type(exc).__name__, exc)
        return
    log.info("Vendor SDK %s: connection plugins loaded, its log lines go to this worker's log", _version())


def _load_connection_plugins() -> None:
    """Import the SDK's plugin package, as its worker does: each plugin module registers itself."""
    importlib.import_module(f"{SDK_PACKAGE}.connection.plugins")


def _route_loguru() -> None:
    """Replace every loguru sink (the SDK's stdout sink among them) with one into ``logging``."""
    # The SDK adds its stdout sink when its logger module is first imported: import it now, so a
    # block importing it later cannot bring that sink back after it was removed.
    importlib.import_module(f"{SDK_PACKAGE}.logger.logger")
    loguru_logger = importlib.import_module("loguru").logger
    loguru_logger.remove()
    loguru_logger.add(_to_logging, level=0, format="{message}", backtrace=False, diagnose=False)


def _to_logging(message: Any) -> None:
    """Loguru sink: hand the record to the standard logger named after the module that logged it."""
    record = message.record
    logger = logging.getLogger(record["name"] or "loguru")
    level = stdlib_level(record["level"].no)
    if logger.isEnabledFor(level):
        logger.handle(_log_record(logger, level, record))


def _log_record(logger: logging.Logger, level: int, record: Any) -> logging.LogRecord:
    """A LogRecord with loguru's message, origin, time, exception and bound context (as extra fields)."""
    exception = record["exception"]
    exc_info = (exception.type, exception.value, exception.traceback) if exception else None
    extra = {k: v for k, v in record["extra"].items() if k not in _RECORD_ATTRS and not k.startswith("_")}
    result = logger.makeRecord(
        logger.name,
        level,
        record["file"].path,
        record["line"],
        record["message"],
        (),
        exc_info,
        record["function"],
        extra,
    )
    result.created = record["time"].timestamp()
    result.msecs = record["time"].microsecond // 1000
    return result


def stdlib_level(number: int) -> int:
    """The standard level at or below a loguru level number (TRACE -> DEBUG, SUCCESS -> INFO)."""
    return max((level for level in _LEVELS if level <= number), default=logging.DEBUG)


def _version() -> str:
    try:
        return importlib.metadata.version(SDK_PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "(version unknown)"


# --- which `neops_worker` does PATH start? --------------------------------------------------


def sdk_script_on_path(search_path: str | None = None) -> Path | None:
    """The ``neops_worker`` command found on ``PATH`` (or ``search_path``) if it is the SDK's, else None."""
    found = shutil.which(SHARED_SCRIPT, path=search_path)
    if found is None:
        return None
    try:
        with Path(found).open("rb") as script:
            head = script.read(_SCRIPT_HEAD)
    except OSError:
        return None
    return Path(found) if SDK_PACKAGE.encode() in head else None


def sdk_script_warning(search_path: str | None = None) -> str | None:
    """The warning to show when the ``neops_worker`` on ``PATH`` starts the SDK's worker, else None."""
    script = sdk_script_on_path(search_path)
    if script is None:
        return None
    return (
        f"'{SHARED_SCRIPT}' on PATH ({script}) starts the vendor SDK's worker, not this one; "
        f"start this worker as '{OWN_SCRIPT}' or 'python -m neops_worker' (see docs/sdk-side-by-side.md)"
    )
