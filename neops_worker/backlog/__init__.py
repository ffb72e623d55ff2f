"""``neops_worker backlog``: the engine's job backlog as Prometheus series, for dashboards and autoscaling.

One exporter per cluster reads the engine's job listing (the read-only diagnostics of contract
section 4.11, with the bearer token of BLACKBOARD_TOKEN) every ``--interval`` seconds and serves
``/metrics``: the pending and the claimed jobs per function block, the age of the oldest pending job
per block, and whether the last read succeeded. It never imports the worker's daemon or the
development kit.

- ``listing``: reading the listing, by the route the engine's version offers (the one home of httpx here);
- ``aggregate``: from a read to the backlog (counts, ages on the engine's clock);
- ``metrics``: the series (a collector over the last read) and prometheus_client's HTTP server;
- ``exporter``: the read loop, the outage log lines, signals, ``run_exporter`` and ``read_once``.
"""

from __future__ import annotations

from neops_worker.backlog.exporter import ExporterOptions, read_once, run_exporter

__all__ = ["ExporterOptions", "read_once", "run_exporter"]
