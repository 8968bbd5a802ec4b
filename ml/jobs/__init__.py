"""Thin jobs of the ML layer: settings -> read -> fit -> write."""
