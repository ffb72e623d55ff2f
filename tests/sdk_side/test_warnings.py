"""The warnings policy: third-party import warnings are filtered narrowly, ours still fail a test."""

from __future__ import annotations

import importlib.util
import warnings

import pytest


def test_a_deprecation_warning_of_our_own_still_fails() -> None:
    """``filterwarnings = ["error"]`` holds for this project's code, beside the SDK's filters."""
    with pytest.raises(DeprecationWarning, match="ours"):
        warnings.warn_explicit("ours", DeprecationWarning, "neops_worker/x.py", 1, module="neops_worker.x")


def test_the_same_category_from_elsewhere_than_the_named_module_still_fails() -> None:
    """The SDK's filter names its module: the same warning raised from our code is still an error."""
    if importlib.util.find_spec("cryptography") is None:
        pytest.skip("cryptography is not installed here")
    from cryptography.utils import CryptographyDeprecationWarning  # type: ignore[import-not-found]

    message, category = "DSA is deprecated and support will be removed", CryptographyDeprecationWarning
    with pytest.raises(category):
        warnings.warn_explicit(message, category, "x.py", 1, module="neops_worker.x")
    with warnings.catch_warnings(record=True) as seen:
        # Raised where upstream raises it, it is ignored: neither an error nor shown.
        warnings.warn_explicit(message, category, "misc.py", 1, module="asyncssh.crypto.misc")
    assert seen == []
