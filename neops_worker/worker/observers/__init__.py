"""The observers of the worker's lifecycle (``worker.events``): metrics, the health listener, systemd."""
