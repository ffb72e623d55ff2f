"""``neops_worker port``: SDK imports rewritten from the one table, formatting kept, the rest reported."""

from __future__ import annotations

import importlib
import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from neops_worker.sdk import mapping
from tests.devtools.blockdirs import block_source, invoke, write_dir
from tests.integration.commands import clean_environment

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "porting-from-the-sdk.md"

FORMATTED = '''\
"""A block module."""

from neops_worker_sdk.function_block.function_block import (  # the base classes
    FunctionBlock,
    FunctionBlockParams as Params,  # renamed on purpose
)
from neops_worker_sdk.workflow import *
import neops_workflow_engine_client
import neops_worker_sdk.workflow.entities
import neops_worker_sdk.registry as sdk_registry

X = neops_worker_sdk.workflow.entities.DeviceField.hostname
Y = neops_workflow_engine_client.DeviceTypeDto
Z = sdk_registry.registry.function_blocks
'''

FORMATTED_PORTED = '''\
"""A block module."""

from neops_worker.sdk.function_block.function_block import (  # the base classes
    FunctionBlock,
    FunctionBlockParams as Params,  # renamed on purpose
)
from neops_worker.sdk.workflow import *
import neops_worker.sdk.engine_client as neops_workflow_engine_client
import neops_worker.sdk.workflow.entities
import neops_worker.sdk.registry as sdk_registry

X = neops_worker.sdk.workflow.entities.DeviceField.hostname
Y = neops_workflow_engine_client.DeviceTypeDto
Z = sdk_registry.registry.function_blocks
'''

LEFT_OVER = """\
from neops_worker_sdk.function_block.function_block import FunctionBlock, BaseFunctionBlockResult
from neops_worker_sdk.function_block.params import Host
from neops_worker_sdk.connection.proxy import ConnectionProxy
"""


def write(tmp_path: Path, name: str, source: str) -> Path:
    """A file ``name`` under ``tmp_path`` holding ``source``."""
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    return path


def test_diff_by_default_and_write_applies_it(tmp_path: Path) -> None:
    """Without --write a unified diff is printed and nothing changes; --write gives the same text."""
    path = write(tmp_path, "blocks/a.py", FORMATTED)
    shown = invoke("port", str(tmp_path / "blocks"))
    assert shown.exit_code == 0, shown.output
    assert path.read_text() == FORMATTED
    assert shown.stdout.startswith("--- a/blocks/a.py\n+++ b/blocks/a.py\n")
    assert "\n-from neops_worker_sdk.workflow import *\n" in shown.stdout
    assert "\n+from neops_worker.sdk.workflow import *\n" in shown.stdout
    assert "1 of 1 file(s) to rewrite (--write applies it); 0 thing(s) to port by hand" in shown.stderr
    written = invoke("port", "--write", str(path))
    assert written.exit_code == 0, written.output
    assert path.read_text() == FORMATTED_PORTED
    assert written.stdout == ""


def test_names_without_an_equivalent_are_reported_and_stay(tmp_path: Path) -> None:
    """An unknown name or module is reported at its line and stays imported from the SDK; exit 1."""
    path = write(
        tmp_path,
        "left.py",
        LEFT_OVER + "import neops_worker_sdk.registry as reg\nR = reg.Registry, reg.nothing\n",
    )
    result = invoke("port", "--write", str(path))
    assert result.exit_code == 1
    assert path.read_text() == (
        "from neops_worker.sdk.function_block.function_block import FunctionBlock\n"
        "from neops_worker_sdk.function_block.function_block import BaseFunctionBlockResult\n"
        "from neops_worker_sdk.function_block.params import Host\n"
        "from neops_worker_sdk.connection.proxy import ConnectionProxy\n"
        "import neops_worker.sdk.registry as reg\n"
        "R = reg.Registry, reg.nothing\n"
    )
    assert f"{path}:1: neops_worker_sdk.function_block.function_block.BaseFunctionBlockResult has no" in (
        result.stderr
    )
    assert f"{path}:2: neops_worker_sdk.function_block.params.Host has no equivalent" in result.stderr
    assert f"{path}:3: neops_worker_sdk.connection.proxy: left as it is" in result.stderr
    assert f"{path}:5: neops_worker_sdk.registry.nothing has no equivalent" in result.stderr
    assert "3 thing(s) to port by hand; 1 connection-layer import(s) kept for the SDK" in result.stderr


def test_connection_imports_alone_leave_nothing_by_hand(tmp_path: Path) -> None:
    """The connection layer's imports are kept and named, which is no work left: exit 0."""
    source = (
        "from neops_worker_sdk.connection.proxy import ConnectionProxy\nimport neops_worker_sdk.connection\n"
    )
    path = write(tmp_path, "conn.py", source)
    result = invoke("port", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "docs/sdk-side-by-side.md" in result.stderr
    assert "0 of 1 file(s)" in result.stderr


def test_unparsable_file_and_missing_path(tmp_path: Path) -> None:
    """A file that does not parse is work left (exit 1, with its line); a missing path is a usage error."""
    broken = write(tmp_path, "broken.py", "import neops_worker_sdk.workflow\ndef (:\n")
    result = invoke("port", str(broken))
    assert result.exit_code == 1
    assert f"{broken}:2: cannot be parsed" in result.stderr
    missing = invoke("port", str(tmp_path / "nowhere"))
    assert missing.exit_code == 2
    assert "no such file or directory" in missing.stderr


def test_help_explains_the_command() -> None:
    """--help says what is rewritten, what --write does, what stays and what the exit codes mean."""
    result = invoke("port", "--help")
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    for phrase in ("unified diff", "--write", "neops_worker_sdk.connection", "FILE:LINE", "Exit status"):
        assert phrase in text


@pytest.mark.parametrize("sdk_module", sorted(mapping.SDK_MODULES))
def test_every_table_entry_is_importable(sdk_module: str) -> None:
    """Each module the table names exists and provides every name listed for it."""
    ours, names = mapping.SDK_MODULES[sdk_module]
    module = importlib.import_module(ours)
    missing = [name for name in names if not hasattr(module, name)]
    assert missing == []


def test_the_guide_reproduces_the_table() -> None:
    """The porting guide shows the table exactly as the code holds it."""
    assert mapping.markdown_table() in GUIDE.read_text()


def test_sdk_names_the_table_leaves_out_are_not_claimed() -> None:
    """Only SDK and engine-client modules count as the SDK's; the connection layer is kept."""
    assert mapping.is_sdk_module("neops_worker_sdk.workflow")
    assert mapping.is_sdk_module("neops_workflow_engine_client.models.device_type_dto")
    assert not mapping.is_sdk_module("neops_worker_sdkx")
    assert mapping.is_kept("neops_worker_sdk.connection.proxy.proxy")
    assert mapping.provides("neops_workflow_engine_client.models.device_type_dto", "DeviceTypeDto")
    assert not mapping.provides("neops_worker_sdk.workflow", "DeviceReference")


def test_submodules_imported_from_their_package(tmp_path: Path) -> None:
    """``from package import submodule`` follows the submodule's entry of the table."""
    source = (
        "from neops_worker_sdk import workflow, registry\n"
        "from neops_worker_sdk.testing.factories import context_factory\n"
        "from neops_workflow_engine_client import models\n"
    )
    path = write(tmp_path, "subs.py", source)
    result = invoke("port", "--write", str(path))
    assert result.exit_code == 1
    assert path.read_text() == (
        "from neops_worker.sdk import workflow, registry\n"
        "from neops_worker.sdk.testing.factories import context_factory\n"
        "from neops_workflow_engine_client import models\n"
    )
    assert f"{path}:3: neops_workflow_engine_client.models has no equivalent" in result.stderr


def check(directory: Path) -> subprocess.CompletedProcess[str]:
    """The real ``neops-worker check --dir DIRECTORY``, in a subprocess with none of our settings."""
    command = str(Path(sys.executable).parent / "neops-worker")
    return subprocess.run(
        [command, "check", "--dir", str(directory)],
        cwd=directory.parent,
        env=clean_environment(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


#: The hints below are for where the vendor SDK is not installed.
WITHOUT_SDK = pytest.mark.skipif(
    importlib.util.find_spec("neops_worker_sdk") is not None, reason="the vendor SDK is installed here"
)


@WITHOUT_SDK
def test_check_points_at_port_until_it_has_run_then_names_what_is_left(tmp_path: Path) -> None:
    """Before port, check's hint is to run it; after, it names the SDK name that has no equivalent."""
    imports = "from neops_worker_sdk.concurrency import BlockingDetector, run_in_thread\n"
    root = write_dir(tmp_path / "left", {"probe.py": imports + block_source()})
    before = check(root)
    assert before.returncode == 1
    assert "'neops_worker port' rewrites its imports" in before.stdout, before.stdout
    assert invoke("port", "--write", str(root)).exit_code == 1
    after = check(root)
    assert after.returncode == 1
    assert (
        "left/probe.py:2: failed to import: ModuleNotFoundError: No module named 'neops_worker_sdk' "
        "(neops_worker_sdk.concurrency.BlockingDetector has no equivalent in neops_worker: port that code "
        "by hand, or install neops_worker_sdk beside neops_worker; see docs/porting-from-the-sdk.md)"
    ) in " ".join(after.stdout.split()), after.stdout
    assert "'neops_worker port'" not in after.stdout


@WITHOUT_SDK
def test_check_on_the_connection_layer_says_to_install_the_sdk(tmp_path: Path) -> None:
    """An import port keeps on purpose (the connection layer) is explained as such, not as unported."""
    imports = "from neops_worker_sdk.connection.proxy import ConnectionProxy\n"
    root = write_dir(tmp_path / "conn", {"probe.py": imports + block_source()})
    result = check(root)
    assert result.returncode == 1
    assert "the vendor SDK's connection layer: install neops_worker_sdk beside neops_worker" in result.stdout
