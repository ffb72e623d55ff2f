"""``sdk_bridge`` without the vendor SDK: which ``neops_worker`` PATH finds, levels, and a free no-op."""

from __future__ import annotations

import logging
import subprocess
import sys
from pathlib import Path

import pytest

from neops_worker.sdk import bridge as sdk_bridge

SDK_SCRIPT = "import sys\nfrom neops_worker_sdk.cli.neops_worker import main\nsys.exit(main())\n"
OUR_SCRIPT = "import sys\nfrom neops_worker.cli import main\nsys.exit(main())\n"


def script_dir(tmp_path: Path, name: str, body: str) -> Path:
    """A directory holding one executable ``neops_worker`` script with ``body``."""
    directory = tmp_path / name
    directory.mkdir()
    script = directory / "neops_worker"
    script.write_text(f"#!{sys.executable}\n{body}")
    script.chmod(0o755)
    return directory


def test_the_sdk_script_first_on_path_is_found_and_warned_about(tmp_path: Path) -> None:
    """The SDK's script ahead of ours on PATH is named, and the warning offers our two commands."""
    sdk = script_dir(tmp_path, "sdk", SDK_SCRIPT)
    ours = script_dir(tmp_path, "ours", OUR_SCRIPT)
    search_path = f"{sdk}:{ours}"
    assert sdk_bridge.sdk_script_on_path(search_path) == sdk / "neops_worker"
    warning = sdk_bridge.sdk_script_warning(search_path)
    assert warning is not None
    assert str(sdk / "neops_worker") in warning
    assert "'neops-worker' or 'python -m neops_worker'" in warning


def test_our_script_first_on_path_is_not_warned_about(tmp_path: Path) -> None:
    """Ours ahead of the SDK's: PATH starts this worker, nothing to warn about."""
    sdk = script_dir(tmp_path, "sdk", SDK_SCRIPT)
    ours = script_dir(tmp_path, "ours", OUR_SCRIPT)
    assert sdk_bridge.sdk_script_warning(f"{ours}:{sdk}") is None


def test_no_script_on_path_is_not_warned_about(tmp_path: Path) -> None:
    """No ``neops_worker`` on PATH at all: no warning."""
    assert sdk_bridge.sdk_script_warning(str(tmp_path)) is None


LEVELS = [(5, "DEBUG"), (10, "DEBUG"), (20, "INFO"), (25, "INFO"), (30, "WARNING"), (50, "CRITICAL")]


@pytest.mark.parametrize(("loguru_level", "expected"), LEVELS)
def test_loguru_levels_map_to_the_standard_level_at_or_below(loguru_level: int, expected: str) -> None:
    """TRACE (5) logs as DEBUG, SUCCESS (25) as INFO, the others as themselves."""
    assert logging.getLevelName(sdk_bridge.stdlib_level(loguru_level)) == expected


def test_prepare_without_the_sdk_imports_nothing() -> None:
    """Without the SDK, prepare() imports neither the SDK nor loguru."""
    if sdk_bridge.sdk_installed():
        pytest.skip("the vendor SDK is installed here")
    code = (
        "import sys; from neops_worker.sdk import bridge as sdk_bridge; "
        "sdk_bridge.prepare(); sdk_bridge.prepare(); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('loguru', 'neops_worker_sdk')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
