"""``python -m neops_worker``: the same as the ``neops_worker`` command."""

from neops_worker.cli import main

main()
