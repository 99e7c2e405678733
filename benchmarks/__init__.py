"""Benchmarks of durable-mp (run them with ``python -m benchmarks.<name>``)."""
