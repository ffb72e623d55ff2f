"""What ``run --reload`` says changed: one file, or the first and how many more, in plain English."""

from __future__ import annotations

import watchfiles

from neops_worker.devkit.reloader import _describe

MODIFIED = watchfiles.Change.modified


def test_one_file_is_named() -> None:
    """A single changed file is named alone."""
    assert _describe({(MODIFIED, "blocks/a.py")}) == "blocks/a.py"


def test_one_more_file_is_singular() -> None:
    """Two files: 'and 1 more file', not 'files'."""
    assert _describe({(MODIFIED, "blocks/a.py"), (MODIFIED, "blocks/b.py")}) == "blocks/a.py and 1 more file"


def test_more_files_are_plural() -> None:
    """Three files: 'and 2 more files'."""
    changes = {(MODIFIED, f"blocks/{name}.py") for name in "abc"}
    assert _describe(changes) == "blocks/a.py and 2 more files"
