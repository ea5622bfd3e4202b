"""Benchmarks that print tables: gateway overhead, cold start, cost per million requests."""
