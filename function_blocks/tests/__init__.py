"""Tests of the bundled example blocks, written with the testing kit (``neops_worker.testing``)."""
