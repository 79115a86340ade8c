"""Benchmarks (not tests): `python -m bench.run`; see bench/run.py."""
