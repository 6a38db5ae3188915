"""Benchmarks that print tables (speed, memory, quality); run by `carrier-opt bench ...`."""
