"""ACME function blocks."""
