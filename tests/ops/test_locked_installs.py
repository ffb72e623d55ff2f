"""Every environment the project builds comes from a committed lock: nothing is resolved at install time."""

from __future__ import annotations

import itertools
import re
import shlex
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Where environments are built: CI, the drift check, the image, the systemd install path.
INSTALLERS = (".ci/run", ".ci/drift", "Dockerfile", "docs/operations.md", "README.md")


def commands(relative: str, pattern: str) -> list[str]:
    """The lines of ``relative`` (continuations joined) that run ``pattern``."""
    text = (ROOT / relative).read_text().replace("\\\n", " ")
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if re.search(pattern, line) and not line.startswith("#")]


@pytest.mark.parametrize("relative", INSTALLERS)
def test_every_uv_sync_installs_the_lock_as_it_is(relative: str) -> None:
    """``uv sync`` with ``--frozen``: uv.lock is installed as committed, never re-resolved."""
    for line in commands(relative, r"\buv sync\b"):
        assert "--frozen" in line, f"{relative}: {line}"


@pytest.mark.parametrize("relative", [path for path in INSTALLERS if path != "README.md"])
def test_every_pip_install_is_pinned_or_hash_locked(relative: str) -> None:
    """A ``pip install`` names an exact version or installs a hash-pinned file (``uv pip`` the latter)."""
    for line in commands(relative, r"\bpip install\b"):
        if "uv pip install" in line or "--require-hashes" in line:
            assert "--require-hashes" in line, f"{relative}: {line}"
            assert " -r " in line, f"{relative}: {line}"
        else:
            assert re.search(r"==\s*\$?\{?\w", line), f"{relative}: {line}"


@pytest.mark.parametrize("relative", ["tests/sdk_side/requirements.txt", ".ci/uv-requirements.txt"])
def test_every_requirements_lock_pins_each_package_with_its_hashes(relative: str) -> None:
    """The hash-pinned files CI installs: each requirement ``==``-pinned and hashed."""
    pinned = requirements(relative)
    assert pinned
    for line in pinned:
        assert re.match(r"^[A-Za-z0-9_.-]+==\S+", line), line
        assert "--hash=sha256:" in line, line


def requirements(relative: str) -> list[str]:
    """The requirement lines of a pip requirements file, continuations joined."""
    text = (ROOT / relative).read_text().replace("\\\n", " ")
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def test_the_side_by_side_lock_holds_the_sdk() -> None:
    """tests/sdk_side/requirements.txt pins the vendor SDK the side-by-side suite is about."""
    assert any(
        line.startswith("neops-worker-sdk==0.2.0b7 ")
        for line in requirements("tests/sdk_side/requirements.txt")
    )


def test_every_apt_install_in_ci_names_each_package_version() -> None:
    """``apt-get install`` in CI pins each package: ``name=version`` (a trailing ``*``: Debian's updates)."""
    lines = commands(".ci/run", r"\bapt-get install\b")
    assert lines, "CI installs Prometheus from Debian's package"
    for line in lines:
        packages = apt_packages(re.split(r"\bapt-get install\b", line, maxsplit=1)[1])
        assert packages, line
        for package in packages:
            assert re.fullmatch(r"[a-z0-9][a-z0-9.+-]*=\d[\w.+~:-]*\*?", package), (
                f".ci/run: {package} in {line}"
            )


def apt_packages(arguments: str) -> list[str]:
    """The package arguments of an ``apt-get install`` command line, up to the shell's next operator."""
    words = shlex.shlex(arguments, posix=True, punctuation_chars=True)
    words.whitespace_split = True
    command = itertools.takewhile(lambda word: not set(word) <= set("&|;<>(){}"), words)
    return [word for word in command if not word.startswith("-")]
