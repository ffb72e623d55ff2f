"""``Sensitive``: the marker of a parameter whose value must never reach a log line or a result.

A secret is usually named like one (``password``, ``enable_secret``, ``api_key``) and the worker
hides those by their name. A field whose name says nothing (``pin``, ``enable``, ``psk``) is marked
instead::

    from typing import Annotated

    from neops_worker import FunctionBlockParams, Sensitive


    class Login(FunctionBlockParams):
        user: str
        pin: Annotated[str, Sensitive]
        backup_pins: list[Annotated[str, Sensitive]] = []

While a job runs, the value of a marked field (every string and number in it, for a list or a
model) is replaced by asterisks in every log line, in what the block prints, and in the result
message, in both isolation modes; in nested models and lists of them too. The parameters the block
receives keep the value as it is: unlike ``SecretStr``, nothing changes in the block's code or in
the schema registered with the engine. The vendor SDK's ``SENSITIVE``
(``neops_worker.sdk.logger.redaction`` once ported) is an instance of this marker, and the SDK's own
marker counts too.
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Annotated, Any, final

if TYPE_CHECKING:
    from pydantic.fields import FieldInfo

#: The vendor SDK's marker class, recognised by its home so that a block using the installed SDK's
#: models (its ``Credential``, its ``Host``) is scrubbed without this module importing the SDK.
_VENDOR_MARKER = ("neops_worker_sdk.logger.redaction", "Sensitive")
#: How deep a field's type is searched for the marker (aliases of aliases, unions of lists...).
_MAX_DEPTH = 8


@final
class Sensitive:
    """Marks a field as secret whatever its name: ``pin: Annotated[str, Sensitive]``.

    The class itself is the marker; an instance (``Sensitive()``, the SDK's ``SENSITIVE``) is too.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return "Sensitive"


def is_marker(obj: object) -> bool:
    """Whether ``obj``, an item of ``Annotated`` metadata, marks its field as secret."""
    if obj is Sensitive or isinstance(obj, Sensitive):
        return True
    kind = type(obj)
    return (kind.__module__, kind.__qualname__) == _VENDOR_MARKER


def is_sensitive_field(field: FieldInfo) -> bool:
    """Whether a model's field is marked: in its own metadata, or anywhere in its type.

    ``pin: Annotated[str, Sensitive]`` carries the marker in its metadata;
    ``pin: Annotated[str, Sensitive] | None`` and ``pins: list[Annotated[str, Sensitive]]`` in their type.
    """
    return any(is_marker(item) for item in field.metadata) or _marked_type(field.annotation, 0)


def _marked_type(annotation: Any, depth: int) -> bool:
    if depth > _MAX_DEPTH:
        return False
    alias = getattr(annotation, "__value__", None)  # ``type Pin = Annotated[str, Sensitive]``
    if alias is not None and not isinstance(annotation, type):
        return _marked_type(alias, depth + 1)
    if typing.get_origin(annotation) is Annotated and any(map(is_marker, annotation.__metadata__)):
        return True
    return any(_marked_type(arg, depth + 1) for arg in typing.get_args(annotation))
