"""Hello world: greets whoever the workflow names."""

# mypy: ignore-errors
from neops_worker_sdk.function_block.acquire_params import AcquireParams
from neops_worker_sdk.function_block.engine_schema import EngineSchemaFunctionBlockParams
from neops_worker_sdk.function_block.function_block import (
    FunctionBlock,
    FunctionBlockAcquireResult,
    FunctionBlockResult,
    FunctionBlockResultData,
)
from neops_worker_sdk.registry.decorator import register_function_block
from neops_worker_sdk.registry.registration import Registration
from neops_worker_sdk.workflow.workflow_context import WorkflowContext
from pydantic import Field


class HelloWorldParams(EngineSchemaFunctionBlockParams):
    """Who to greet, and how."""

    name: str = Field(description="Who to greet")
    greeting: str | None = Field(default=None, description="Greeting to use instead of Hello")


class HelloWorldResult(FunctionBlockResultData):
    """The greeting."""

    text: str


@register_function_block(
    Registration(
        name="hello_world",
        description="Greets whoever the workflow names",
        package="fb.acme.examples",
        run_on="global",
        fb_type="none",
        param_cls=HelloWorldParams,
        result_cls=HelloWorldResult,
        version=(1, 0, 0),
        is_pure=True,
        is_idempotent=True,
    )
)
class HelloWorld(FunctionBlock[HelloWorldParams, HelloWorldResult]):
    """Says hello."""

    async def acquire(self, params: AcquireParams[HelloWorldParams]) -> FunctionBlockAcquireResult:
        """A greeting needs no entities."""
        return FunctionBlockAcquireResult(success=True, message="Nothing to acquire", acquires=None)

    async def run(
        self, params: HelloWorldParams, context: WorkflowContext
    ) -> FunctionBlockResult[HelloWorldResult]:
        """Build the greeting."""
        logger = self.logger.with_context(name=params.name)
        text = f"{params.greeting or 'Hello'}, {params.name}!"
        logger.info(f"Greeting {params.name}")
        return FunctionBlockResult(success=True, message=text, data=HelloWorldResult(text=text))
