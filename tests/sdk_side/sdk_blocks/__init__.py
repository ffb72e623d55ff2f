"""Blocks that use the vendor SDK's connection layer (they need ``neops_worker_sdk`` installed)."""
