"""Tests of the function-block developer commands (blocks, check, schema, exec) and the testing kit."""
