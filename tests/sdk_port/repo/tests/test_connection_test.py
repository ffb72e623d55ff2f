"""Connection test, against a port of this machine that nothing listens on."""

# mypy: ignore-errors
import socket

from blocks.acme.connection_test import ConnectionTest, ConnectionTestParams
from neops_worker_sdk.testing.factories.context_factory import create_workflow_context
from neops_workflow_engine_client import DeviceTypeDto


def closed_port():
    """A loopback port that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_closed_port_is_a_failed_result():
    """A refused connection is a failed result that names the address."""
    port = closed_port()
    context = create_workflow_context(
        run_on="device", entity_id=1, devices=[DeviceTypeDto(id=1, hostname="lab-1", ip="127.0.0.1")]
    )
    result = await ConnectionTest().execute_function_block(
        params=ConnectionTestParams(port=port, timeout_s=1), context=context, propagate_exceptions=True
    )
    assert not result.success
    assert result.message.startswith(f"127.0.0.1:{port} is not reachable")
    assert result.data.reachable is False


async def test_open_port_answers():
    """A listening port answers, with its latency."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        context = create_workflow_context(
            run_on="device", entity_id=1, devices=[DeviceTypeDto(id=1, hostname="lab-1", ip="127.0.0.1")]
        )
        result = await ConnectionTest().execute_function_block(
            params=ConnectionTestParams(port=port), context=context, propagate_exceptions=True
        )
    assert result.success, result.message
    assert result.data.reachable is True


async def test_no_device_found():
    """Without a device the block answers for itself."""
    result = await ConnectionTest().execute_function_block(
        params=ConnectionTestParams(),
        context=create_workflow_context(run_on="global"),
        propagate_exceptions=True,
    )
    assert result.message == "No device found"
