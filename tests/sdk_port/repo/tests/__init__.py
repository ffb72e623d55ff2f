"""Tests of the ACME function blocks."""
