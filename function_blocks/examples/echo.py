"""Echo: returns its message. A global block with no side effects; handy to check a worker end to end."""

from __future__ import annotations

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


class EchoParams(FunctionBlockParams):
    """What to echo."""

    message: str = Field(description="Text to send back")
    repeat: int = Field(default=1, ge=1, le=100, description="How many times to repeat it")


class EchoResult(FunctionBlockResultData):
    """The echoed text."""

    echoed: str


@register_function_block(
    Registration(
        name="echo",
        package="fb.examples.neops",
        description="Returns the given message",
        run_on="global",
        fb_type="none",
        version=(1, 0, 0),
        markdown_helptext="Returns `message`, repeated `repeat` times, separated by spaces.",
        is_pure=True,
        is_idempotent=True,
    )
)
class Echo(FunctionBlock[EchoParams, EchoResult]):
    """Echoes its input."""

    async def run(self, params: EchoParams, context: WorkflowContext) -> FunctionBlockResult[EchoResult]:
        """Return the message."""
        echoed = " ".join([params.message] * params.repeat)
        return FunctionBlockResult(
            success=True, message=f"Echoed {len(echoed)} characters", data=EchoResult(echoed=echoed)
        )
