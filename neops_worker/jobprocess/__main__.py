"""``python -m neops_worker.jobprocess``: the template process (started by the daemon, not by hand)."""

from neops_worker.jobprocess.template import main

main()
