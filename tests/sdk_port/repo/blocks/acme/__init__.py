"""Blocks of the ACME network team."""
