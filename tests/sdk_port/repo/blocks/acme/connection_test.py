"""Connection test: can the worker open a TCP connection to the device's management port?"""

# mypy: ignore-errors
import socket
import time

from neops_worker_sdk.concurrency import run_in_thread
from neops_worker_sdk.function_block.acquire_params import AcquireParams
from neops_worker_sdk.function_block.function_block import (
    FunctionBlock,
    FunctionBlockAcquireResult,
    FunctionBlockParams,
    FunctionBlockResult,
    FunctionBlockResultData,
)
from neops_worker_sdk.registry.decorator import register_function_block
from neops_worker_sdk.registry.registration import Registration
from neops_worker_sdk.workflow.workflow_context import WorkflowContext
from pydantic import Field


class ConnectionTestParams(FunctionBlockParams):
    """Which port to try."""

    port: int = Field(default=22, ge=1, le=65535, description="TCP port to connect to")
    timeout_s: float = Field(default=2.0, gt=0, description="Seconds to wait for the connection")


class ConnectionTestResult(FunctionBlockResultData):
    """Whether the port answered, and how fast."""

    reachable: bool
    latency_ms: float | None


@register_function_block(
    Registration(
        name="connection_test",
        description="Opens a TCP connection to the device's management port",
        package="fb.acme.examples",
        run_on="device",
        fb_type="check",
        param_cls=ConnectionTestParams,
        result_cls=ConnectionTestResult,
        is_pure=True,
    )
)
class ConnectionTest(FunctionBlock[ConnectionTestParams, ConnectionTestResult]):
    """Checks that a device's port is open."""

    async def acquire(self, params: AcquireParams[ConnectionTestParams]) -> FunctionBlockAcquireResult:
        """The job's own device is all it needs."""
        return FunctionBlockAcquireResult(success=True, message="Uses the job's device", acquires=None)

    @run_in_thread
    def connect(self, ip: str, port: int, timeout_s: float) -> float:
        """Open and close a connection; the time it took, in milliseconds."""
        started = time.monotonic()
        with socket.create_connection((ip, port), timeout=timeout_s):
            return (time.monotonic() - started) * 1000

    async def run(
        self, params: ConnectionTestParams, context: WorkflowContext
    ) -> FunctionBlockResult[ConnectionTestResult]:
        """Try the port."""
        if context.device is None or not context.device.ip:
            return FunctionBlockResult(success=False, message="No device found", data=None)
        ip = context.device.ip
        try:
            latency_ms = await self.connect(ip, params.port, params.timeout_s)
        except OSError as exc:
            self.logger.with_context(device=context.device.hostname).warning(f"{ip}:{params.port}: {exc}")
            return FunctionBlockResult(
                success=False,
                message=f"{ip}:{params.port} is not reachable: {exc}",
                data=ConnectionTestResult(reachable=False, latency_ms=None),
            )
        return FunctionBlockResult(
            success=True,
            message=f"{ip}:{params.port} answered in {latency_ms:.1f} ms",
            data=ConnectionTestResult(reachable=True, latency_ms=latency_ms),
        )
