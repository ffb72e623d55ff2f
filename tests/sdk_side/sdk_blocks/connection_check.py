"""Connection check: opens a device connection through the vendor SDK's connection proxy.

It imports the proxy only, never a plugin: the worker loads the SDK's plugins, as the SDK's own
worker does. It logs through the SDK's loguru logger, which the worker routes into its own log.
"""

from __future__ import annotations

# The SDK is not installed where the type checker runs (it needs Python >= 3.12).
from neops_worker_sdk.connection.proxy import NetworkDeviceDiscoveryProxy  # type: ignore[import-not-found]
from neops_worker_sdk.logger import Logger  # type: ignore[import-not-found]
from neops_workflow_engine_client import DeviceTypeDto, PlatformTypeDto  # type: ignore[import-not-found]
from pydantic import Field

from neops_worker import (
    FunctionBlock,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
    Registration,
    WorkflowContext,
    register_function_block,
)


class CheckParams(FunctionBlockParams):
    """Where to connect."""

    ip: str = Field(description="Address of the device")
    platform: str = Field(default="frr", description="The device's platform short name")
    username: str = Field(default="admin", description="Login user")
    password: str = Field(default="admin", description="Login password")


class CheckResult(FunctionBlockResultData):
    """What the device said."""

    hostname: str | None


@register_function_block(
    Registration(
        name="connection_check",
        package="fb.sdkside.neops",
        description="Reads the device's facts over SSH through the vendor SDK's connection proxy",
        run_on="global",
        fb_type="facts",
        version=(1, 0, 0),
        is_pure=True,
    )
)
class ConnectionCheck(FunctionBlock[CheckParams, CheckResult]):
    """Connects with netmiko, as resolved by the SDK's plugin registry."""

    def run(self, params: CheckParams, context: WorkflowContext) -> FunctionBlockResult[CheckResult]:
        """Connect and read the device's information; a failed connection raises."""
        sdk_log = Logger().with_context(device_ip=params.ip)
        sdk_log.info("Connecting to {} ({})", params.ip, params.platform)
        device = DeviceTypeDto(
            id=1,
            hostname="lab-device",
            ip=params.ip,
            username=params.username,
            password=params.password,
            platform=PlatformTypeDto(short_name=params.platform),
        )
        with NetworkDeviceDiscoveryProxy.connect(device, "ssh", "netmiko") as proxy:
            information = proxy.get_information()
        return FunctionBlockResult(
            success=True, message="connected", data=CheckResult(hostname=information.hostname)
        )
