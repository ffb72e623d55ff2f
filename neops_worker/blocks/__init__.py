"""The function-block authoring API. Depends on pydantic only, so a block's tests never pull in the daemon."""
