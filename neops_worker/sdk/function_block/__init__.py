"""The vendor SDK's ``function_block`` package: the block base class, its models and results."""
