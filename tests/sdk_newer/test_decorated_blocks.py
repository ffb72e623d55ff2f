"""Blocks carrying the SDK's test decorators, ported: ``check`` passes, ``pytest`` runs their tests.

The repository (``repo/``) is written as the SDK's newer documentation shows tests: decorators on
the production block classes. A ported copy is checked with the real command, its own ``pytest``
runs the tests the decorators add (through this project's runner), and a worker without pytest
imports the modules as they are. The lab test against a real lab server is in
``tests/sdk_side/test_remote_lab.py`` (the lab package needs Python >= 3.12).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from neops_worker.testing_lab import LAB_URL_VARIABLE, lab_unavailable
from tests.integration.commands import clean_environment
from tests.sdk_newer.repository import INVENTORY, SUMMARY, copy_repo, ported, run_pytest

#: Our command under the name the vendor SDK's own script cannot take over.
COMMAND = str(Path(sys.executable).parent / "neops-worker")
#: The tests the decorators add, by module.
GENERATED = {
    "device_summary": [
        "test_devicesummary_a_device_without_a_hostname_fails",
        "test_devicesummary_summarises_core_rtr_01",
    ],
    "lab_inventory": ["test_labinventory_inventory_of_a_lab_router"],
}


def run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """``argv`` in ``cwd`` with none of this process's settings, its output captured."""
    return subprocess.run(
        argv, cwd=cwd, env=clean_environment(), check=False, capture_output=True, text=True, timeout=120
    )


def test_port_rewrites_the_test_decorators_and_leaves_nothing_by_hand(tmp_path: Path) -> None:
    """The decorators' and lab devices' imports have equivalents: no file names the SDK after --write."""
    repo = ported(copy_repo(tmp_path / "acme_newer"))
    for path in repo.rglob("*.py"):
        assert "neops_worker_sdk" not in path.read_text(), path
    summary = (repo / "blocks" / "acme_newer" / "device_summary.py").read_text()
    assert "from neops_worker.sdk.testing.base.function_block_test_case import fb_test_case\n" in summary


def test_check_passes_on_the_ported_blocks(newer_repo: Path) -> None:
    """The real ``check`` imports the decorated modules and finds both blocks."""
    result = run([COMMAND, "check", "--dir", "blocks"], newer_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: 3 function block(s) in 5 module(s), no problems." in result.stdout


def test_check_names_the_file_and_line_of_a_run_that_needs_a_fourth_argument(newer_repo: Path) -> None:
    """A copy of a block whose ``run`` also needs ``extra``: check fails at that def, before any job."""
    module = newer_repo / "blocks" / "acme_newer" / "needy_banner.py"
    source = (newer_repo / "blocks" / "acme_newer" / "site_banner.py").read_text()
    needy = source.replace('name="site_banner"', 'name="needy_banner"').replace(
        "meta: Any", "meta: Any, extra: Any"
    )
    module.write_text(needy)
    line = next(n for n, text in enumerate(needy.splitlines(), start=1) if "async def run(" in text)
    result = run([COMMAND, "check", "--dir", "blocks"], newer_repo)
    assert result.returncode == 1, result.stdout + result.stderr
    output = result.stdout + result.stderr
    assert f"blocks/acme_newer/needy_banner.py:{line}: invalid function block " in output, output
    assert "run(self, params, context, meta, extra) needs 'extra', which the worker never passes" in output


def test_plain_pytest_runs_the_tests_the_decorators_add(
    newer_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both fb_test_case tests pass without pytest-asyncio; the lab test skips, saying why."""
    monkeypatch.delenv(LAB_URL_VARIABLE, raising=False)
    result = run_pytest(newer_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed, 1 skipped" in result.stdout, result.stdout
    assert "SKIPPED [1] " in result.stdout
    assert str(lab_unavailable()) in result.stdout
    selected = run_pytest(newer_repo, "-m", "function_block and not remote_lab")
    assert "2 passed, 1 deselected" in selected.stdout, selected.stdout


def test_a_generated_test_fails_with_what_differs(newer_repo: Path) -> None:
    """Expected data the block does not return fails its test, naming the block, case and both values."""
    module = newer_repo / "blocks" / "acme_newer" / "device_summary.py"
    module.write_text(module.read_text().replace('platform="ios", interfaces', 'platform="nxos", interfaces'))
    result = run_pytest(newer_repo)
    assert result.returncode == 1
    assert "1 failed, 1 passed, 1 skipped" in result.stdout, result.stdout
    assert (
        "AssertionError: DeviceSummary (summarises_core_rtr_01): result data "
        "{'hostname': 'core-rtr-01', 'platform': 'ios', 'interfaces': ['Gi0/1']}, "
        "expected {'hostname': 'core-rtr-01', 'platform': 'nxos', 'interfaces': ['Gi0/1']}"
    ) in result.stdout


#: A Python with neither pytest nor the lab package importable, as in the worker's image.
WITHOUT_TEST_PACKAGES = "import sys; sys.modules['pytest'] = sys.modules['neops_remote_lab'] = None; "


def test_a_worker_without_pytest_imports_the_decorated_modules_unchanged(newer_repo: Path) -> None:
    """Without pytest the decorators add nothing and return the class; ``check`` still passes."""
    imports = (
        "import blocks.acme_newer.device_summary as s, blocks.acme_newer.lab_inventory as l; "
        "print(s.DeviceSummary.registration.fb_id, l.LabInventory.registration.fb_id); "
        "print([n for m in (s, l) for n in vars(m) if n.startswith('test')])"
    )
    found = run([sys.executable, "-c", WITHOUT_TEST_PACKAGES + imports], newer_repo)
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines() == [f"{SUMMARY} {INVENTORY}", "[]"]
    check = (
        "from neops_worker.cli import main; sys.argv = ['neops_worker', 'check', '--dir', 'blocks']; main()"
    )
    checked = run([sys.executable, "-c", WITHOUT_TEST_PACKAGES + check], newer_repo)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "OK: 3 function block(s)" in checked.stdout


def test_with_pytest_the_modules_carry_the_sdk_test_names(newer_repo: Path) -> None:
    """Imported with pytest installed, each module holds its tests under the SDK's names."""
    code = (
        "import blocks.acme_newer.device_summary as s, blocks.acme_newer.lab_inventory as l; "
        "print(sorted(n for n in vars(s) if n.startswith('test'))); "
        "print(sorted(n for n in vars(l) if n.startswith('test')))"
    )
    found = run([sys.executable, "-c", code], newer_repo)
    assert found.returncode == 0, found.stderr
    assert found.stdout.splitlines() == [str(GENERATED["device_summary"]), str(GENERATED["lab_inventory"])]


def test_the_ported_blocks_and_their_decorators_type_check_strictly(newer_repo: Path) -> None:
    """mypy --strict accepts the decorated blocks as ported: the decorators keep the SDK's signatures."""
    for path in (newer_repo / "blocks").rglob("*.py"):
        # The fixture's files are kept out of this project's own type check; the ported copy is not.
        path.write_text(path.read_text().replace("# mypy: ignore-errors\n", ""))
    cache = str(newer_repo / ".mypy_cache")
    result = run([sys.executable, "-m", "mypy", "--strict", "--cache-dir", cache, "blocks"], newer_repo)
    assert result.returncode == 0, result.stdout + result.stderr
