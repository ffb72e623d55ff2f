"""Hello world, called directly as the SDK's tests do."""

# mypy: ignore-errors
import json

from blocks.acme.hello_world import HelloWorld, HelloWorldParams, HelloWorldResult
from neops_worker_sdk.function_block.acquire_params import AcquireParams
from neops_worker_sdk.registry import registry
from neops_worker_sdk.testing.factories.context_factory import create_workflow_context

HELLO = "fb.acme.examples/hello_world:1.0.0"


async def test_greets_by_name():
    """The default greeting names the person."""
    result = await HelloWorld().execute_function_block(
        params=HelloWorldParams(name="neops"),
        context=create_workflow_context(run_on="global"),
        propagate_exceptions=True,
    )
    assert result.success
    assert result.message == "Hello, neops!"
    assert result.data == HelloWorldResult(text="Hello, neops!")


async def test_acquires_nothing():
    """acquire answers with acquires=None."""
    params = AcquireParams(partial=HelloWorldParams(name="x"), unresolved=frozenset(), raw={"name": "x"})
    result = await HelloWorld().acquire(params)
    assert result.success
    assert result.acquires is None


async def test_registered_without_schema_defaults():
    """The registry holds the block; its published parameter schema has no defaults."""
    cls, registration, dto = registry.function_blocks[HELLO]
    assert cls is HelloWorld
    assert registration.identifier == HELLO
    assert registration.param_cls is HelloWorldParams
    assert dto.name == "hello_world"
    schema = dto.parameter_json_schema
    assert '"default"' not in json.dumps(schema)
    assert schema["properties"]["greeting"]["anyOf"] == [{"type": "string"}, {"type": "null"}]
    assert schema["required"] == ["name"]
