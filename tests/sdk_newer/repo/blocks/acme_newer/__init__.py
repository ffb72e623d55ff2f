"""ACME function blocks, tested by decorators on the block classes."""
