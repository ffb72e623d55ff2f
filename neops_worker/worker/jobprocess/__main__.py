"""``python -m neops_worker.worker.jobprocess``: the template process (started by the daemon, not by hand)."""

from neops_worker.worker.jobprocess.template import main

main()
