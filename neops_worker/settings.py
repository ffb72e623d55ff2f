"""The worker's configuration: one settings model, read from the environment and ``.env``.

Each setting is defined once, here. The CLI builds its ``run`` options from this model and only
passes overrides. The other variables read are not the worker's settings but other programs'
conventions, each read where it is used:

- ``NOTIFY_SOCKET``, ``WATCHDOG_USEC``, ``WATCHDOG_PID`` (systemd's): ``sdnotify``, from the runtime;
- ``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``: the engine client's transport;
- ``PATH``: ``sdk_bridge``, to tell whose ``neops_worker`` script a shell starts;
- ``TERM``, ``NO_COLOR``, ``FORCE_COLOR``, ``COLUMNS``: rich, for the console log on a terminal;
- ``XDG_DATA_HOME``: the local engine's default database file (development only).

``run --reload`` hands the whole environment, with the given options as variables, to the worker it
restarts (``reloader``); the worker children of the development kit get it without the user's
settings (``local_engine.process.worker_env``).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AnyHttpUrl, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from neops_worker.engine.wire import CONTRACT_LIBRARY, CONTRACT_VERSION
from neops_worker.errors import ConfigurationError

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
LogFormat = Literal["console", "json"]
JobIsolation = Literal["process", "thread"]
ReversibleMode = Literal["auto", "always", "never"]

#: What a name of LOG_REDACT_EXTRA_KEYS may hold: a mistyped separator must not pass for a key name.
KEY_NAME = re.compile(r"[\w.-]*[^\W_][\w.-]*")
#: Of the engine's stuck-job timeout, the part kept for delivering a job's result: a tenth, at most 60 s.
DELIVERY_RESERVE_MAX = 60.0


def delivery_reserve(stuck_job_timeout: float) -> float:
    """Seconds kept, before the engine's stuck-job timeout, to push a job's result after it stops."""
    return min(DELIVERY_RESERVE_MAX, stuck_job_timeout / 10)


class Settings(BaseSettings):
    """Every setting of the worker daemon; environment variable names are the field names upper-cased."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", validate_default=True
    )

    url_blackboard: AnyHttpUrl = Field(
        default=AnyHttpUrl("http://localhost:3030"), description="Base URL of the engine (the blackboard)."
    )
    dir_function_blocks: Annotated[list[str], NoDecode] = Field(
        default=["function_blocks"],
        description="Comma-separated directories to load function blocks from.",
    )
    worker_name: str | None = Field(default=None, description="Name shown for this worker in the engine.")
    worker_ip_address: str | None = Field(
        default=None, description="IP address reported to the engine (informational)."
    )
    heartbeat_interval: float = Field(default=20, gt=0, description="Seconds between heartbeats.")
    poll_interval: float = Field(
        default=10, gt=0, description="Longest wait between polls when idle (seconds; the backoff ceiling)."
    )
    poll_min_interval: float = Field(
        default=0.2,
        gt=0,
        description="First wait after an empty poll (seconds; doubles up to POLL_INTERVAL).",
    )
    shutdown_timeout: float = Field(
        default=60, ge=0, description="Seconds the job in hand may take to finish after a shutdown signal."
    )
    api_request_timeout: float = Field(default=30, gt=0, description="Timeout of each HTTP call (seconds).")
    poll_timeout: float = Field(
        default=60,
        gt=0,
        description="Timeout of a poll (seconds; never shorter than API_REQUEST_TIMEOUT): a poll that "
        "times out may have claimed a job the worker never sees, so it gets more time than other calls.",
    )
    result_push_timeout: float = Field(
        default=300, gt=0, description="How long to keep retrying a result push (seconds)."
    )
    startup_retry_timeout: float = Field(
        default=120, gt=0, description="How long to keep retrying registration at start (seconds)."
    )
    job_timeout: float = Field(
        default=0,
        ge=0,
        description="Longest a job may run (seconds); the job is killed then. 0: as long as the engine's "
        "stuck-job timeout leaves (ENGINE_STUCK_JOB_TIMEOUT less the time to deliver the result).",
    )
    engine_stuck_job_timeout: float = Field(
        default=720,
        ge=0,
        description="The engine's BLACKBOARD_STUCK_JOB_TIMEOUT in seconds (12 min by default): it fails a "
        "job still claimed after this long. 0: the engine has none.",
    )
    job_isolation: JobIsolation = Field(
        default="process",
        description="'process': each job runs in a job process of its own (hard timeouts, crashes "
        "contained); 'thread': in the worker's own process (smallest memory, no hard timeout).",
    )
    worker_slots: int = Field(
        default=1,
        ge=1,
        le=256,
        description="Job slots in this daemon: each registers as a worker of its own and runs one job at a "
        "time, all forked from one template (process isolation only).",
    )
    max_jobs: int = Field(
        default=0,
        ge=0,
        description="Burst mode: stop taking jobs after this many in all slots, finish them, unregister and "
        "exit 0 (0 = no limit).",
    )
    exit_when_idle: float = Field(
        default=0,
        ge=0,
        description="Burst mode: unregister and exit 0 once no slot has had a job for this many seconds "
        "(0 = never).",
    )
    max_jobs_per_process: int = Field(
        default=0, ge=0, description="Replace the job process after this many jobs (0 = no limit)."
    )
    max_memory_per_process: float = Field(
        default=0,
        ge=0,
        description="Replace the job process when its RSS after a job exceeds this many MiB (0 = no limit).",
    )
    registration_concurrency: int = Field(
        default=16,
        ge=1,
        le=256,
        description="Function blocks registered at the same time (by all slots together).",
    )
    register_reversible: ReversibleMode = Field(
        default="auto",
        description="'auto': send each block's 'reversible' flag to engines that know it (0.43.0-beta.2 "
        "and later); 'always': send it whatever the engine's version; 'never': never send it.",
    )
    version_check_library: str = Field(
        default=CONTRACT_LIBRARY, min_length=1, description="'library' sent in the engine's version check."
    )
    version_check_version: str = Field(
        default=CONTRACT_VERSION, min_length=1, description="'version' sent in the engine's version check."
    )
    skip_broken_modules: bool = Field(
        default=False,
        description="Start even if some function-block modules fail to import (they are logged).",
    )
    log_level: LogLevel = Field(default="INFO", description="DEBUG, INFO, WARNING, ERROR or CRITICAL.")
    log_format: LogFormat = Field(
        default="console", description="'console' (rich on a terminal) or 'json' (one object per line)."
    )
    log_redact_extra_keys: Annotated[list[str], NoDecode] = Field(
        default=[],
        description="Comma-separated key names whose values are secrets too, as those named like "
        "'password' or 'token' are: hidden from logs, printed output and result messages wherever "
        "a key contains one, whatever its case, '_' and '-' (e.g. 'pin,enable').",
    )
    blackboard_token: SecretStr | None = Field(
        default=None, description="Bearer token sent to the engine (never logged)."
    )
    blackboard_token_file: Path | None = Field(
        default=None,
        description="File holding the bearer token (its first line), instead of BLACKBOARD_TOKEN: a "
        "mounted secret, say.",
    )
    blackboard_ca_bundle: Path | None = Field(
        default=None, description="CA bundle (PEM) to verify the engine's certificate with."
    )
    health_port: int | None = Field(
        default=None,
        ge=0,
        le=65535,
        description="Serve /livez, /readyz and /metrics on this port (off if unset).",
    )
    health_host: str = Field(default="127.0.0.1", description="Address the health listener binds to.")

    @field_validator("dir_function_blocks", mode="before")
    @classmethod
    def _split_dirs(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            dirs = [str(item).strip() for item in value if str(item).strip()]
            if not dirs:
                raise ValueError("names no directory")
            return dirs
        return value

    @field_validator("log_redact_extra_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.split(",")
        if isinstance(value, list | tuple):
            return key_names([str(item) for item in value])
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("log_format", "job_isolation", mode="before")
    @classmethod
    def _lower_format(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @field_validator("register_reversible", mode="before")
    @classmethod
    def _reversible_mode(cls, value: Any) -> Any:
        """The earlier boolean form still reads: true sends the flag always, false never."""
        if isinstance(value, bool):
            return "always" if value else "never"
        if isinstance(value, str):
            lowered = value.strip().lower()
            return {"true": "always", "1": "always", "false": "never", "0": "never"}.get(lowered, lowered)
        return value

    @field_validator(
        "worker_name",
        "worker_ip_address",
        "blackboard_ca_bundle",
        "blackboard_token_file",
        "health_port",
        mode="before",
    )
    @classmethod
    def _empty_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _check_relations(self) -> Settings:
        self.poll_min_interval = min(self.poll_min_interval, self.poll_interval)
        if self.blackboard_ca_bundle is not None and not self.blackboard_ca_bundle.is_file():
            raise ValueError(f"BLACKBOARD_CA_BUNDLE: {self.blackboard_ca_bundle} is not a readable file")
        self._read_token_file()
        if self.worker_slots > 1 and self.job_isolation == "thread":
            raise ValueError(
                f"WORKER_SLOTS: {self.worker_slots} slots need JOB_ISOLATION=process (job threads share "
                "one process and cannot be told apart); set WORKER_SLOTS=1 or JOB_ISOLATION=process"
            )
        budget, stuck = self.stuck_job_budget, self.engine_stuck_job_timeout
        if self.job_timeout and budget and self.job_timeout > budget:
            raise ValueError(
                f"JOB_TIMEOUT: {self.job_timeout:g} s does not fit in ENGINE_STUCK_JOB_TIMEOUT "
                f"({stuck:g} s) less {delivery_reserve(stuck):g} s "
                f"to deliver the result: the engine would fail the job first; set JOB_TIMEOUT to at most "
                f"{budget:g}, or ENGINE_STUCK_JOB_TIMEOUT to the engine's BLACKBOARD_STUCK_JOB_TIMEOUT"
            )
        return self

    def _read_token_file(self) -> None:
        """BLACKBOARD_TOKEN_FILE's first line becomes the token (never both)."""
        path = self.blackboard_token_file
        if path is None:
            return
        if self.blackboard_token is not None:
            raise ValueError("BLACKBOARD_TOKEN_FILE: set it or BLACKBOARD_TOKEN, not both")
        try:
            token = path.read_text(encoding="utf-8").strip().splitlines()
        except OSError as exc:
            raise ValueError(f"BLACKBOARD_TOKEN_FILE: cannot read {path} ({exc.strerror})") from None
        if not token or not token[0].strip():
            raise ValueError(f"BLACKBOARD_TOKEN_FILE: {path} is empty")
        self.blackboard_token = SecretStr(token[0].strip())

    def check_block_directories(self) -> None:
        """Refuse DIR_FUNCTION_BLOCKS entries that are not readable directories (before any request).

        A check of its own, not a validator: commands that read the settings for other reasons (the
        health probe, the local engine's client) do not depend on the blocks being there.
        """
        for directory in self.dir_function_blocks:
            problem = unusable_directory(Path(directory))
            if problem is not None:
                raise ConfigurationError(f"DIR_FUNCTION_BLOCKS: {problem}")

    @property
    def stuck_job_budget(self) -> float:
        """How long a job may run and still be reported before the engine's stuck-job timeout (0: any)."""
        stuck = self.engine_stuck_job_timeout
        return stuck - delivery_reserve(stuck) if stuck else 0.0

    @property
    def effective_job_timeout(self) -> float:
        """The limit a job runs under: JOB_TIMEOUT, else the stuck-job budget (0: none)."""
        return self.job_timeout or self.stuck_job_budget

    def job_timeout_text(self) -> str:
        """What stopped a job that ran out of time, for its failed result and the log."""
        if self.job_timeout:
            return f"JOB_TIMEOUT of {self.job_timeout:g} s"
        stuck = self.engine_stuck_job_timeout
        return (
            f"{self.stuck_job_budget:g} s, in time to report it before the engine's stuck-job timeout "
            f"(ENGINE_STUCK_JOB_TIMEOUT {stuck:g} s; set JOB_TIMEOUT to choose another limit)"
        )

    @property
    def effective_poll_timeout(self) -> float:
        """A poll's timeout: POLL_TIMEOUT, never shorter than API_REQUEST_TIMEOUT."""
        return max(self.poll_timeout, self.api_request_timeout)

    @property
    def base_url(self) -> str:
        """The engine's base URL without a trailing slash."""
        return str(self.url_blackboard).rstrip("/")

    def public_view(self) -> dict[str, Any]:
        """The effective configuration with secrets masked, for the start-up log line."""
        view = self.model_dump(mode="json")
        for name in ("blackboard_token",):
            if view.get(name):
                view[name] = "**********"
        view["url_blackboard"] = self.base_url
        return view


def key_names(items: list[str]) -> list[str]:
    """LOG_REDACT_EXTRA_KEYS' names, lower-cased, once each; a name that cannot be a key is refused."""
    names = [item.strip().lower() for item in items if item.strip()]
    for name in names:
        if not KEY_NAME.fullmatch(name):
            raise ValueError(
                f"{name!r} is not a key name (letters and digits, with '_', '-' or '.'); "
                "separate the names with commas"
            )
    return list(dict.fromkeys(names))


def unusable_directory(directory: Path) -> str | None:
    """Why ``directory`` cannot be read as a directory of blocks, naming it; None if it can."""
    directory = directory.expanduser()
    shown = str(directory) if directory.is_absolute() else f"{directory} (in {Path.cwd()})"
    try:
        root = directory.resolve(strict=True)
    except FileNotFoundError:
        return f"{shown} does not exist"
    except (OSError, RuntimeError) as exc:  # a symlink loop, a component that is not a directory
        return f"{shown} cannot be resolved ({getattr(exc, 'strerror', None) or exc})"
    if not root.is_dir():
        return f"{shown} is not a directory"
    try:
        with os.scandir(root):
            pass
    except OSError as exc:
        return f"{shown} cannot be read ({exc.strerror or exc})"
    return None


def env_name(field: str) -> str:
    """The environment variable of a setting."""
    return field.upper()


def load_settings(overrides: dict[str, Any] | None = None, env_file: str | None = ".env") -> Settings:
    """Read the settings; a bad value becomes a ``ConfigurationError`` naming the variable."""
    given = {key: value for key, value in (overrides or {}).items() if value is not None}
    try:
        return Settings(_env_file=env_file, **given)
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``VARIABLE: what is wrong (got 'value')``."""
    lines = []
    for error in exc.errors(include_url=False):
        location = [str(part) for part in error["loc"]]
        message = error["msg"].removeprefix("Value error, ")
        if not location:  # a check across settings: its message names the variable itself
            lines.append(message)
            continue
        variable = env_name(location[0])
        got = error.get("input")
        shown = "" if isinstance(got, dict) or got is None else f" (got {str(got)!r})"
        if variable in {"BLACKBOARD_TOKEN"}:
            shown = ""
        lines.append(f"{variable}: {message}{shown}")
    return "; ".join(lines)
