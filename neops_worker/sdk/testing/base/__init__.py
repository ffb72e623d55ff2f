"""The vendor SDK's block test decorators and test case (``function_block_test_case``)."""
