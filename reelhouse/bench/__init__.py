"""Benchmarks, each writing JSON; they share one scratch-lakehouse helper (`scratch.py`)."""
