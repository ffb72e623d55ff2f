"""The vendor SDK's testing helpers for block authors."""
