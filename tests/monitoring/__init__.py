"""The shipped monitoring: Prometheus rules and their promtool tests, a real Prometheus, the dashboard."""
