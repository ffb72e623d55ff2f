"""The SDK-style repository in ``repo/`` imports the vendor SDK: only its ported copies are run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sdk_newer.repository import copy_repo, ported

collect_ignore = ["repo"]


@pytest.fixture
def newer_repo(tmp_path: Path) -> Path:
    """A fresh copy of the repository, ported by ``neops_worker port --write``."""
    return ported(copy_repo(tmp_path / "acme_newer"))


def pytest_configure(config: pytest.Config) -> None:
    """The SDK's markers, which the decorators called by these tests put on the tests they add."""
    config.addinivalue_line("markers", "function_block: a block's own test case (@fb_test_case)")
    config.addinivalue_line(
        "markers", "remote_lab: a block's test case on a remote lab (@fb_test_case_with_lab)"
    )
