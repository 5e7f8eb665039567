"""Benchmarks: measured, compared with a reference in the same run, never asserted in tests."""
