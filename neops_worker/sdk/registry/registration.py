"""The vendor SDK's ``Registration``: the native one, with the SDK's ``identifier`` and version properties."""

from __future__ import annotations

from neops_worker.blocks.registration import Registration as NativeRegistration


class Registration(NativeRegistration):
    """A block's identity and metadata, as the SDK spells it (``identifier``, ``major_version``, ...)."""

    markdown_helptext: str | None = "No helptext provided"

    @property
    def identifier(self) -> str:
        """The id ``package/name:major.minor.patch``."""
        return self.fb_id

    @property
    def major_version(self) -> int:
        """The first part of the version."""
        return self.version[0]

    @property
    def minor_version(self) -> int:
        """The second part of the version."""
        return self.version[1]

    @property
    def patch_version(self) -> int:
        """The third part of the version."""
        return self.version[2]


__all__ = ["Registration"]
