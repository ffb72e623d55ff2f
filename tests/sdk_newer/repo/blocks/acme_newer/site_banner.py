"""Site banner: the login banner of a router, naming the site it stands in."""

# mypy: ignore-errors
# ``meta`` is typed Any: the SDK's documentation writes run(self, params, context, meta) and
# publishes no type for it.
from typing import Annotated, Any

from neops_worker_sdk.function_block.acquire_params import AcquireParams
from neops_worker_sdk.function_block.function_block import (
    FunctionBlock,
    FunctionBlockAcquireResult,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
)
from neops_worker_sdk.logger.redaction import SENSITIVE
from neops_worker_sdk.registry.decorator import register_function_block
from neops_worker_sdk.registry.registration import Registration
from neops_worker_sdk.workflow.workflow_context import WorkflowContext


class SiteBannerParams(FunctionBlockParams):
    """The router's site and its enable secret, neither of which may reach a log.

    ``enable`` is marked ``SENSITIVE``; ``site_code`` is named in ``LOG_REDACT_EXTRA_KEYS``
    (``.env.example``): ACME keeps its site codes out of logs.
    """

    site_code: str
    enable: Annotated[str, SENSITIVE]


class SiteBannerResult(FunctionBlockResultData):
    """The banner set, and the job that set it."""

    hostname: str
    banner: str
    job_id: str
    worker_id: str | None


@register_function_block(
    Registration(
        name="site_banner",
        description="Sets a router's login banner, naming its site",
        package="fb.acme.newer",
        run_on="device",
        fb_type="configure",
        param_cls=SiteBannerParams,
        result_cls=SiteBannerResult,
        version=(1, 0, 0),
    )
)
class SiteBanner(FunctionBlock[SiteBannerParams, SiteBannerResult]):
    """Sets the banner of the device the job runs on (the commands it would send are logged)."""

    async def acquire(self, params: AcquireParams[SiteBannerParams]) -> FunctionBlockAcquireResult:
        """The device comes with the job."""
        return FunctionBlockAcquireResult(success=True, message="Nothing to acquire")

    async def run(
        self, params: SiteBannerParams, context: WorkflowContext, meta: Any
    ) -> FunctionBlockResult[SiteBannerResult]:
        """Log what it is given and the commands it sends; return the banner and the job's ids."""
        device = context.device
        if device is None or not device.hostname:
            return FunctionBlockResult(success=False, message=f"Device {context.entity_id} has no hostname")
        self.logger.info(f"Setting the banner of {device.hostname} with {params!r}")
        banner = f"ACME site {params.site_code}: authorised access only"
        commands = ["enable", params.enable, "configure terminal", f"banner login ^{banner}^"]
        self.logger.info(f"Sending {commands}")
        print(f"sent {len(commands)} commands to {device.hostname} for site {params.site_code}")
        found = SiteBannerResult(
            hostname=device.hostname, banner=banner, job_id=meta.job_id, worker_id=meta.worker_id
        )
        return FunctionBlockResult(success=True, message=f"{device.hostname}: {banner}", data=found)
