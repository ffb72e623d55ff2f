"""Example function blocks bundled with neops_worker."""
