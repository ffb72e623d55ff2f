"""An SDK-style block repository, ported with ``neops_worker port`` and run: its tests and the daemon."""
