"""Chatty: logs a line from inside the block, so tests can check the job fields on a block's own lines."""

from __future__ import annotations

import logging

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

log = logging.getLogger("fb.tests.ops.chatty")


class ChattyParams(FunctionBlockParams):
    """What to say."""

    words: str = Field(default="hello", description="Logged at INFO")


class ChattyResult(FunctionBlockResultData):
    """Nothing to return."""


@register_function_block(
    Registration(
        name="chatty",
        package="fb.tests.ops",
        description="Logs its words",
        run_on="global",
        fb_type="none",
        version=(1, 0, 0),
        is_pure=True,
    )
)
class Chatty(FunctionBlock[ChattyParams, ChattyResult]):
    """Logs, then succeeds."""

    def run(self, params: ChattyParams, context: WorkflowContext) -> FunctionBlockResult[ChattyResult]:
        """Log the words."""
        log.info("Block says %s", params.words)
        return FunctionBlockResult(success=True, message="said it", data=ChattyResult())
