"""Licence refusals: the 403 a registration past ``--max-workers`` or ``--max-function-blocks`` gets.

The body is a ``LicenseLimitExceededDto`` and the answer carries the ``X-Neops-License-Error:
limit-exceeded`` header, as the engine's documentation describes (contract section 4.12). The local
engine's limits are options, not a licence: the hint says which option raises them.
"""

from __future__ import annotations

from neops_worker.devkit.local_engine._http import ApiError
from neops_worker.devkit.local_engine.store import LicenceLimitReached
from neops_worker.engine.wire import LicenseLimit, LicenseLimitExceeded

LICENCE_HEADER = {"X-Neops-License-Error": "limit-exceeded"}
#: The edition the local engine says it has.
EDITION = "developer-preview"

#: Per quota: what it is called to a person, its unit in a sentence, how it counts, what frees it.
_QUOTAS = {
    "workers": (
        "Workers",
        "workers",
        None,
        "Stop a worker and let it expire, or start the local engine with a higher --max-workers",
    ),
    "functionBlocks": (
        "Function blocks",
        "function blocks",
        "by-package-and-name",
        "Register no new block, or start the local engine with a higher --max-function-blocks",
    ),
}


def licence_refusal(reached: LicenceLimitReached, fb_id: str | None = None) -> ApiError:
    """The 403 answer for a registration past a licence limit (``fb_id``: the refused block)."""
    label, unit, counting_rule, hint = _QUOTAS[reached.quota]
    what = f"Function block {fb_id} would exceed the" if fb_id else "The registration would exceed the"
    limit = LicenseLimit(
        name=reached.quota,
        label=label,
        max=reached.maximum,
        current=reached.current,
        counting_rule=counting_rule,
    )
    body = LicenseLimitExceeded(
        status_code=403,
        error="LicenseLimitExceeded",
        message=f"{what} licence's {reached.maximum} {unit}",
        limit=limit,
        hint=hint,
        edition=EDITION,
    )
    return ApiError(403, body.message, body=body.to_wire(), headers=LICENCE_HEADER)
