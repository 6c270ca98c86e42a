"""Offline measurement: benchmarks now (``python -m evals.bench``), evaluation datasets and runs later."""
